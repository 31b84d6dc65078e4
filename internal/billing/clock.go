package billing

import "time"

// Clock is where every piece of PayPortal outside a workflow reads the time, so tests can
// move it. Workflows use workflow.Now instead.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// FixedClock always answers the same instant; tests advance it by assigning T.
type FixedClock struct{ T time.Time }

func (c *FixedClock) Now() time.Time { return c.T }
