package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// breakdown is where one workflow's time went, from its history's timestamps and the
// client's own clock (same machine).
type breakdown struct {
	endToEnd      time.Duration // the client's latency
	toStart       time.Duration // client sent → workflow started
	clientSaw     time.Duration // workflow started → client saw the end
	closed        time.Duration // workflow started → workflow closed (0: still running)
	tasks         int           // workflow tasks
	taskWait      time.Duration // workflow tasks scheduled → started (waiting for a worker), summed
	firstTaskWait time.Duration
	taskRun       time.Duration // workflow tasks started → completed, summed
	acts          int           // activities
	localActs     int           // local activities (their time is inside the workflow tasks')
	actWait       time.Duration // scheduled → started, summed
	actRun        time.Duration // started → completed, summed
}

// historyBreakdown reads the workflow behind s and attributes its time.
func historyBreakdown(ctx context.Context, tc client.Client, s sample) (breakdown, error) {
	b := breakdown{endToEnd: s.end.Sub(s.start)}
	it := tc.GetWorkflowHistory(ctx, s.ref, s.run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var started time.Time
	scheduled := map[int64]time.Time{} // scheduled event id → time
	startedAt := map[int64]time.Time{} // started event id → time
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return b, fmt.Errorf("history of %s: %w", s.ref, err)
		}
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			started = at
			b.toStart = at.Sub(s.start)
			b.clientSaw = s.end.Sub(at)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wait := at.Sub(scheduled[ev.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId()])
			if b.tasks == 0 {
				b.firstTaskWait = wait
			}
			b.tasks++
			b.taskWait += wait
			startedAt[ev.GetEventId()] = at
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			b.taskRun += at.Sub(startedAt[ev.GetWorkflowTaskCompletedEventAttributes().GetStartedEventId()])
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			b.acts++
			b.actWait += at.Sub(scheduled[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()])
			startedAt[ev.GetEventId()] = at
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == localActivityMarker {
				b.localActs++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			b.actRun += at.Sub(startedAt[ev.GetActivityTaskCompletedEventAttributes().GetStartedEventId()])
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
			enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			b.closed = at.Sub(started)
		}
	}
	return b, nil
}

// localActivityMarker names the marker a local activity leaves in the history (the Go SDK's
// internal localActivityMarkerName).
const localActivityMarker = "LocalActivity"

// spread picks up to n of the kind's counted successes, evenly over their latency ranks, so
// the sample's mean follows the whole distribution and includes the slowest.
func spread(samples []sample, kind Kind, n int) []sample {
	var ok []sample
	for _, s := range samples {
		if s.kind == kind && s.err == "" && s.counted && s.ref != "" {
			ok = append(ok, s)
		}
	}
	slices.SortFunc(ok, func(a, b sample) int { return int(a.end.Sub(a.start) - b.end.Sub(b.start)) })
	if n <= 0 || len(ok) == 0 {
		return nil
	}
	if len(ok) <= n {
		return ok
	}
	out := make([]sample, n)
	for i := range n {
		if n == 1 {
			out[i] = ok[len(ok)/2]
			continue
		}
		out[i] = ok[i*(len(ok)-1)/(n-1)]
	}
	return out
}

// HistoryColumn is the mean breakdown of one kind's sampled workflows.
type HistoryColumn struct {
	Kind          Kind
	Sampled       int
	Of            int // counted successes of the kind
	Mean          breakdown
	MaxFirstWait  time.Duration // the longest first workflow task wait sampled
	TasksPerRun   float64
	ActivitiesRun float64 // activities per run
	LocalRun      float64 // local activities per run
	Errors        int     // histories that could not be read
}

// breakDown reads the sampled histories of a kind and averages them.
func breakDown(ctx context.Context, tc client.Client, samples []sample, kind Kind, n int) (HistoryColumn, bool) {
	picked := spread(samples, kind, n)
	if len(picked) == 0 {
		return HistoryColumn{}, false
	}
	col := HistoryColumn{Kind: kind}
	for _, s := range samples {
		if s.kind == kind && s.err == "" && s.counted {
			col.Of++
		}
	}
	var sum breakdown
	for _, s := range picked {
		b, err := historyBreakdown(ctx, tc, s)
		if err != nil {
			col.Errors++
			continue
		}
		col.Sampled++
		sum.endToEnd += b.endToEnd
		sum.toStart += b.toStart
		sum.clientSaw += b.clientSaw
		sum.closed += b.closed
		sum.tasks += b.tasks
		sum.taskWait += b.taskWait
		sum.firstTaskWait += b.firstTaskWait
		col.MaxFirstWait = max(col.MaxFirstWait, b.firstTaskWait)
		sum.taskRun += b.taskRun
		sum.acts += b.acts
		sum.localActs += b.localActs
		sum.actWait += b.actWait
		sum.actRun += b.actRun
	}
	if col.Sampled == 0 {
		return col, true
	}
	d := time.Duration(col.Sampled)
	col.Mean = breakdown{
		endToEnd: sum.endToEnd / d, toStart: sum.toStart / d, clientSaw: sum.clientSaw / d, closed: sum.closed / d,
		taskWait: sum.taskWait / d, firstTaskWait: sum.firstTaskWait / d, taskRun: sum.taskRun / d,
		actWait: sum.actWait / d, actRun: sum.actRun / d,
	}
	col.TasksPerRun = float64(sum.tasks) / float64(col.Sampled)
	col.ActivitiesRun = float64(sum.acts) / float64(col.Sampled)
	col.LocalRun = float64(sum.localActs) / float64(col.Sampled)
	return col, true
}

func writeHistories(w io.Writer, cols []HistoryColumn, name func(Kind) string) {
	header := []string{"mean per run"}
	for _, c := range cols {
		header = append(header, fmt.Sprintf("%s (%d of %d)", name(c.Kind), c.Sampled, c.Of))
	}
	row := func(name string, f func(HistoryColumn) string) []string {
		r := []string{name}
		for _, c := range cols {
			r = append(r, f(c))
		}
		return r
	}
	table(w, header, [][]string{
		row("end to end (client)", func(c HistoryColumn) string { return fmtDur(c.Mean.endToEnd) }),
		row("client sent → workflow started", func(c HistoryColumn) string { return fmtDur(c.Mean.toStart) }),
		row("workflow started → client saw the end", func(c HistoryColumn) string { return fmtDur(c.Mean.clientSaw) }),
		row("workflow started → closed", func(c HistoryColumn) string { return fmtDur(c.Mean.closed) }),
		row("workflow tasks", func(c HistoryColumn) string { return fmt.Sprintf("%.1f", c.TasksPerRun) }),
		row("… waiting for a worker (sum)", func(c HistoryColumn) string { return fmtDur(c.Mean.taskWait) }),
		row("… of which the first task", func(c HistoryColumn) string { return fmtDur(c.Mean.firstTaskWait) }),
		row("… the first task's longest wait sampled", func(c HistoryColumn) string { return fmtDur(c.MaxFirstWait) }),
		row("… running (sum, local activities included)", func(c HistoryColumn) string { return fmtDur(c.Mean.taskRun) }),
		row("local activities", func(c HistoryColumn) string { return fmt.Sprintf("%.1f", c.LocalRun) }),
		row("activities", func(c HistoryColumn) string { return fmt.Sprintf("%.1f", c.ActivitiesRun) }),
		row("… waiting for a worker (sum)", func(c HistoryColumn) string { return fmtDur(c.Mean.actWait) }),
		row("… running (sum)", func(c HistoryColumn) string { return fmtDur(c.Mean.actRun) }),
	})
}
