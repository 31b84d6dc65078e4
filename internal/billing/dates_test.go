package billing_test

import (
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestNextBillingDateIsStrictlyAfterToday(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	newYork := time.FixedZone("EST", -5*3600)
	cases := []struct {
		name       string
		billingDay int
		now        time.Time
		want       time.Time
	}{
		{"later this month", 15, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), day(2026, 3, 15)},
		{"on the billing day itself: next month", 15, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), day(2026, 4, 15)},
		{"last minute before the billing day", 15, time.Date(2026, 3, 14, 23, 59, 59, 0, time.UTC), day(2026, 3, 15)},
		{"billed on the 1st", 1, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), day(2026, 4, 1)},
		{"end of year rolls into January", 28, time.Date(2026, 12, 28, 9, 0, 0, 0, time.UTC), day(2027, 1, 28)},
		{"day 28 in February", 28, time.Date(2027, 2, 3, 0, 0, 0, 0, time.UTC), day(2027, 2, 28)},
		{"31 December, billed on the 1st", 1, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), day(2027, 1, 1)},
		// The day is the UTC day, whatever zone the caller's clock is in.
		{"evening in New York is already the 1st in UTC", 1, time.Date(2026, 3, 31, 22, 0, 0, 0, newYork), day(2026, 5, 1)},
		{"just after midnight in Paris is still the 14th in UTC", 15, time.Date(2026, 3, 15, 0, 30, 0, 0, paris), day(2026, 3, 15)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := billing.NextBillingDate(tc.billingDay, tc.now)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("NextBillingDate(%d, %s) = %s, want %s", tc.billingDay, tc.now, got, tc.want)
			}
		})
	}
}

func TestPreviousBillingDateIsOnOrBeforeToday(t *testing.T) {
	cases := []struct {
		billingDay int
		now, want  time.Time
	}{
		{1, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC), day(2026, 3, 1)},
		{15, time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC), day(2026, 3, 15)},
		{15, time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC), day(2026, 2, 15)},
		{28, time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), day(2025, 12, 28)},
	}
	for _, tc := range cases {
		if got := billing.PreviousBillingDate(tc.billingDay, tc.now); !got.Equal(tc.want) {
			t.Errorf("PreviousBillingDate(%d, %s) = %s, want %s", tc.billingDay, tc.now, got, tc.want)
		}
	}
}

func TestBillingPeriodIsTheMonthBeforeTheBillingDate(t *testing.T) {
	cases := []struct{ billedOn, start, end time.Time }{
		{day(2026, 3, 1), day(2026, 2, 1), day(2026, 2, 28)},
		{day(2024, 3, 1), day(2024, 2, 1), day(2024, 2, 29)},
		{day(2026, 1, 15), day(2025, 12, 15), day(2026, 1, 14)},
	}
	for _, tc := range cases {
		start, end := billing.BillingPeriod(tc.billedOn)
		if !start.Equal(tc.start) || !end.Equal(tc.end) {
			t.Errorf("BillingPeriod(%s) = %s..%s, want %s..%s", tc.billedOn.Format(time.DateOnly),
				start.Format(time.DateOnly), end.Format(time.DateOnly), tc.start.Format(time.DateOnly), tc.end.Format(time.DateOnly))
		}
	}
}

func TestRecurringBillingDateIsTheBillingDayOfTheMonth(t *testing.T) {
	cases := []struct {
		name       string
		billingDay int
		startedOn  time.Time
		want       time.Time
	}{
		{"on the billing day", 15, day(2026, 12, 15), day(2026, 12, 15)},
		{"a manual trigger later in the month", 15, time.Date(2026, 12, 28, 17, 30, 0, 0, time.UTC), day(2026, 12, 15)},
		{"an operator's start earlier in the month", 15, day(2026, 12, 2), day(2026, 12, 15)},
		{"the last day of the month", 1, day(2027, 1, 31), day(2027, 1, 1)},
		{"a day past February's end is clamped", 31, day(2027, 2, 10), day(2027, 2, 28)},
		{"leap February", 30, day(2028, 2, 3), day(2028, 2, 29)},
		{"the UTC month decides", 1, time.Date(2026, 11, 30, 22, 0, 0, 0, time.FixedZone("EST", -5*3600)), day(2026, 12, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := billing.RecurringBillingDate(tc.billingDay, tc.startedOn)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("RecurringBillingDate(%d, %s) = %s, want %s", tc.billingDay, tc.startedOn, got, tc.want)
			}
			if month := billing.BillingMonth(tc.startedOn); !month.Equal(billing.BillingMonth(got)) || month.Day() != 1 {
				t.Errorf("BillingMonth(%s) = %s, want the first of %s's month", tc.startedOn, month, got)
			}
		})
	}
	// Two days of one month bill one period.
	s1, e1 := billing.BillingPeriod(billing.RecurringBillingDate(15, day(2026, 12, 3)))
	s2, e2 := billing.BillingPeriod(billing.RecurringBillingDate(15, day(2026, 12, 27)))
	if !s1.Equal(s2) || !e1.Equal(e2) || !s1.Equal(day(2026, 11, 15)) || !e1.Equal(day(2026, 12, 14)) {
		t.Errorf("periods %s..%s and %s..%s, want 2026-11-15..2026-12-14 twice", s1, e1, s2, e2)
	}
}
