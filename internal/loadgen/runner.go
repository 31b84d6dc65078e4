package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one operation as a client saw it.
type sample struct {
	kind       Kind
	start, end time.Time
	err        string // empty on success; otherwise a label without IDs, to count alike errors together
	detail     string // the full error
	ref        string // the workflow behind it, when there is one
	run        string // its run, when known (empty: the latest)
	payment    string // the payment it created, if any
	paid       bool   // that payment succeeded
	counted    bool   // inside the measured window
}

// failed marks s as failed with a label to group it by and the full message.
func (s *sample) failed(label string, detail string) {
	s.err, s.detail = label, detail
}

// phase is N clients doing operations for a warm-up, then a measured window (a duration or
// a count of operations).
type phase struct {
	clients  int
	warmup   time.Duration
	duration time.Duration
	count    int // >0: measure this many operations instead of duration
	// op runs one operation of client c, its seq-th; it fills kind, err and the references,
	// the phase sets the times.
	op func(ctx context.Context, c, seq int) sample
}

// phaseResult holds every sample of a phase and the measured window.
type phaseResult struct {
	samples []sample
	window  time.Duration
}

// run runs the phase. With a duration, the window is exactly [end of warm-up, + duration]
// and an operation counts when it ends inside it: the completion rate of the steady state,
// whatever the operations' length. Clients start nothing after the window and finish what they
// started (payments must end before the books are checked); what ends after the window is not
// counted. With a count, the first count operations started after the warm-up are counted
// and the window ends when the last of them does.
func (p phase) run(ctx context.Context) phaseResult {
	start := time.Now()
	warmEnd := start.Add(p.warmup)
	measureEnd := warmEnd.Add(p.duration)
	var tickets atomic.Int64
	perClient := make([][]sample, p.clients)
	var wg sync.WaitGroup
	for c := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				now := time.Now()
				counted := false
				switch {
				case p.count > 0 && !now.Before(warmEnd):
					if tickets.Add(1) > int64(p.count) {
						return
					}
					counted = true
				case p.count == 0 && !now.Before(measureEnd):
					return
				}
				s := p.op(ctx, c, seq)
				s.start, s.end = now, time.Now()
				if p.count > 0 {
					s.counted = counted
				} else {
					s.counted = !s.end.Before(warmEnd) && !s.end.After(measureEnd)
				}
				perClient[c] = append(perClient[c], s)
			}
		}()
	}
	wg.Wait()
	var r phaseResult
	last := warmEnd
	for _, ss := range perClient {
		for _, s := range ss {
			if s.counted && s.end.After(last) {
				last = s.end
			}
		}
		r.samples = append(r.samples, ss...)
	}
	if p.count > 0 {
		r.window = last.Sub(warmEnd)
	} else {
		r.window = p.duration
	}
	return r
}
