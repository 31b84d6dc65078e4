// Package schedules keeps the Temporal Schedules that drive recurring billing: one per
// account, firing on the account's billing day. Ops see and pause them in the Temporal UI
// under the ID recurring-billing/<account>.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/workflows"
)

// BillingHourUTC is when, on the billing day, the month is billed.
const BillingHourUTC = 6

// catchupWindow lets a schedule that missed its billing day (the server was down) still bill
// the month when it comes back, up to a few weeks later; the month's workflow ID keeps a
// catch-up from billing anything twice.
const catchupWindow = 27 * 24 * time.Hour

// EnsureRecurringBilling creates the billing schedule of every account, or updates it when
// the account's billing day (or the task queue) changed. A paused schedule stays paused. One
// account failing does not stop the others: every failure is returned, joined.
func EnsureRecurringBilling(ctx context.Context, c client.Client, taskQueue string, accounts []billing.Account) error {
	var errs []error
	for _, acct := range accounts {
		if err := EnsureAccount(ctx, c, taskQueue, acct); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// EnsureAccount creates or updates one account's billing schedule.
func EnsureAccount(ctx context.Context, c client.Client, taskQueue string, acct billing.Account) error {
	id := workflows.RecurringBillingScheduleID(acct.ID)
	spec, action := recurringSpec(acct), recurringAction(taskQueue, acct)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:            id,
		Spec:          spec,
		Action:        action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		CatchupWindow: catchupWindow,
		Note:          fmt.Sprintf("Bills %s (%s) on day %d of each month", acct.ID, acct.CompanyName, acct.BillingDay),
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy != nil {
				s.Policy.CatchupWindow = catchupWindow
				s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

// recurringSpec fires at BillingHourUTC on the account's billing day, every month.
func recurringSpec(acct billing.Account) client.ScheduleSpec {
	return client.ScheduleSpec{
		Calendars: []client.ScheduleCalendarSpec{{
			Second:     []client.ScheduleRange{{Start: 0}},
			Minute:     []client.ScheduleRange{{Start: 0}},
			Hour:       []client.ScheduleRange{{Start: BillingHourUTC}},
			DayOfMonth: []client.ScheduleRange{{Start: acct.BillingDay}},
			Month:      []client.ScheduleRange{{Start: 1, End: 12}},
			Comment:    fmt.Sprintf("billing day %d", acct.BillingDay),
		}},
		TimeZoneName: "UTC",
	}
}

func recurringAction(taskQueue string, acct billing.Account) *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		// The server appends the scheduled time to this ID; BillingDayWorkflow then starts
		// the month's workflow under recurring-billing/<account>/<YYYY-MM>.
		ID:                    workflows.RecurringBillingScheduleID(acct.ID),
		Workflow:              workflows.TypeBillingDay,
		Args:                  []any{workflows.BillingDayInput{AccountID: acct.ID}},
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AccountIDKey.ValueSet(acct.ID)),
		StaticSummary:         "Billing day of " + acct.ID,
	}
}
