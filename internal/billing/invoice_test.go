package billing_test

import (
	"testing"

	"github.com/payportal/payportal/internal/billing"
)

func TestTaxOnRoundsHalfAwayFromZero(t *testing.T) {
	cases := []struct{ subtotal, rateBps, want int64 }{
		{10000, 800, 800},
		{23540, 800, 1883}, // 1883.2
		{3660, 2000, 732},
		{5, 1000, 1},   // 0.5 rounds up
		{-5, 1000, -1}, // and a credit's -0.5 rounds down, so credits mirror charges
		{1, 4999, 0},   // 0.4999
		{1, 5000, 1},   // 0.5
		{-2500, 800, -200},
		{0, 2000, 0},
		{123456, 0, 0},
		{99, 10000, 99}, // 100 %
	}
	for _, tc := range cases {
		if got := billing.TaxOn(tc.subtotal, tc.rateBps); got != tc.want {
			t.Errorf("TaxOn(%d, %d bps) = %d, want %d", tc.subtotal, tc.rateBps, got, tc.want)
		}
	}
}

func TestAmountDueIsNeverNegative(t *testing.T) {
	cases := []struct {
		name string
		inv  billing.Invoice
		want int64
	}{
		{"open", billing.Invoice{Status: billing.InvoiceOpen, Total: 5000}, 5000},
		{"partly paid", billing.Invoice{Status: billing.InvoiceOpen, Total: 5000, AmountPaid: 1200}, 3800},
		{"paid", billing.Invoice{Status: billing.InvoicePaid, Total: 5000, AmountPaid: 5000}, 0},
		{"void", billing.Invoice{Status: billing.InvoiceVoid, Total: 5000}, 0},
		{"credit", billing.Invoice{Type: billing.InvoiceCredit, Status: billing.InvoicePaid, Total: -2700}, 0},
	}
	for _, tc := range cases {
		if got := tc.inv.AmountDue(); got != tc.want {
			t.Errorf("%s: AmountDue() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestRecurringInvoiceDraftBillsEveryChargeWithTax(t *testing.T) {
	acct := billing.Account{ID: "acct_x", Currency: "USD", TaxRateBps: 800}
	charges := []billing.RecurringCharge{
		{Description: "Virtual server", Category: "compute", Quantity: 2, UnitAmount: 4320},
		{Description: "Block storage", Category: "storage", Quantity: 500, UnitAmount: 10},
		{Description: "Premium support", Category: "support", Quantity: 1, UnitAmount: 9900},
	}
	start, end := billing.BillingPeriod(day(2026, 4, 1))
	inv := billing.RecurringInvoiceDraft(acct, charges, start, end)
	if inv.Type != billing.InvoiceRecurring || inv.Status != billing.InvoiceOpen || inv.Currency != "USD" || inv.AccountID != "acct_x" {
		t.Errorf("draft %+v: want an open USD recurring invoice of acct_x", inv)
	}
	if inv.Subtotal != 23540 || inv.Tax != 1883 || inv.Total != 25423 {
		t.Errorf("subtotal %d, tax %d, total %d; want 23540, 1883, 25423", inv.Subtotal, inv.Tax, inv.Total)
	}
	if len(inv.Items) != 3 || inv.Items[0].Amount != 8640 || !inv.Items[2].PeriodEnd.Equal(day(2026, 3, 31)) {
		t.Errorf("items %+v", inv.Items)
	}
	if empty := billing.RecurringInvoiceDraft(acct, nil, start, end); empty.Total != 0 || len(empty.Items) != 0 {
		t.Errorf("an account without charges gets a draft of %d", empty.Total)
	}
}

func TestInvoiceTypes(t *testing.T) {
	for _, typ := range billing.InvoiceTypes {
		if !typ.Valid() {
			t.Errorf("%s is not valid", typ)
		}
	}
	for _, typ := range []billing.InvoiceType{"", "Recurring", "subscription"} {
		if typ.Valid() {
			t.Errorf("%q is valid", typ)
		}
	}
	if !billing.InvoiceCredit.Negative() || !billing.InvoiceRefund.Negative() || billing.InvoiceOneTime.Negative() {
		t.Error("only credits and refunds carry negative totals")
	}
}
