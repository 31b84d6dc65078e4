package portal

import (
	"context"
	"time"
)

// pollUntil reads every interval until done accepts what read returned or ctx ends, and
// answers the last successful read and whether done accepted it. The services use it to wait
// on the database for what a workflow records, which works whichever worker runs it. A read
// that fails while ctx is live is an error; one cut short by ctx ending is simply the end of
// the wait.
func pollUntil[T any](ctx context.Context, every time.Duration, read func(context.Context) (T, error), done func(T) bool) (last T, ok bool, err error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		cur, err := read(ctx)
		switch {
		case err == nil && done(cur):
			return cur, true, nil
		case err == nil:
			last = cur
		case ctx.Err() == nil:
			return last, false, err
		}
		select {
		case <-ctx.Done():
			return last, false, nil
		case <-tick.C:
		}
	}
}
