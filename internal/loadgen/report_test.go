package loadgen

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1) // 1..100 ms
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample is every percentile", []time.Duration{ms(7)}, 99, ms(7)},
		{"p50 of 100", hundred, 50, ms(50)},
		{"p95 of 100 is the 95th, not the 96th", hundred, 95, ms(95)},
		{"p99 of 100", hundred, 99, ms(99)},
		{"p100 is the max", hundred, 100, ms(100)},
		{"p50 of 3 is the middle", []time.Duration{ms(1), ms(2), ms(3)}, 50, ms(2)},
		{"p50 of 4 is the 2nd", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 50, ms(2)},
		{"p99 of 10 is the max", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"a tiny p is the min", hundred, 0.001, ms(1)},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeCountsTheWindowAndEveryError(t *testing.T) {
	t0 := time.Now()
	at := func(startMS, endMS int) (time.Time, time.Time) { return t0.Add(ms(startMS)), t0.Add(ms(endMS)) }
	var samples []sample
	add := func(kind Kind, startMS, endMS int, counted bool, err string) {
		s := sample{kind: kind, counted: counted, err: err, detail: err + " in full"}
		s.start, s.end = at(startMS, endMS)
		samples = append(samples, s)
	}
	// Ten counted card payments of 10..100 ms, one not counted (the warm-up), two errors (one
	// during the drain), and a read that must not mix in.
	for i := 1; i <= 10; i++ {
		add(KindCard, 0, 10*i, true, "")
	}
	add(KindCard, 0, 5000, false, "")
	add(KindCard, 0, 30, true, "POST payments: 503 unavailable")
	add(KindCard, 0, 30, false, "POST payments: 503 unavailable")
	add(KindSummary, 0, 1, true, "")

	s := summarize(KindCard, samples, 2*time.Second)
	if s.Count != 10 {
		t.Errorf("count = %d, want the 10 counted successes", s.Count)
	}
	if s.Rate != 5 {
		t.Errorf("rate = %v, want 10 in 2 s = 5/s", s.Rate)
	}
	if s.P50 != ms(50) || s.P95 != ms(100) || s.P99 != ms(100) || s.Max != ms(100) {
		t.Errorf("p50/p95/p99/max = %v/%v/%v/%v, want 50ms/100ms/100ms/100ms", s.P50, s.P95, s.P99, s.Max)
	}
	if s.ErrorCount() != 2 || s.Errors["POST payments: 503 unavailable"] != 2 {
		t.Errorf("errors = %v, want both 503s, counted or not", s.Errors)
	}
	if s.ErrorDetail["POST payments: 503 unavailable"] != "POST payments: 503 unavailable in full" {
		t.Errorf("error detail = %q", s.ErrorDetail)
	}
	if empty := summarize(KindPDF, samples, time.Second); empty.Count != 0 || empty.Rate != 0 || empty.P99 != 0 {
		t.Errorf("a kind without samples: %+v", empty)
	}
}

func TestRatesAndRatios(t *testing.T) {
	if r := rate(30, 1500*time.Millisecond); r != 20 {
		t.Errorf("rate(30, 1.5s) = %v, want 20", r)
	}
	if r := rate(30, 0); r != 0 {
		t.Errorf("rate over no window = %v, want 0", r)
	}
	if r := ratio(15, 25); r != 0.6 {
		t.Errorf("ratio(15, 25) = %v, want 0.6", r)
	}
	if r := ratio(15, 0); r != 0 {
		t.Errorf("ratio without a ceiling = %v, want 0", r)
	}
	met := Comparison{Ratio: 0.6, Target: 0.6}
	missed := Comparison{Ratio: 0.59, Target: 0.6}
	if !met.Met() || missed.Met() || !(Comparison{Ratio: 0.1}).Met() {
		t.Error("Met: 60 % meets a 60 % target, 59 % does not, no target is always met")
	}
}

func TestCompareSetsEachKindAgainstItsCeiling(t *testing.T) {
	stats := []Stats{{Kind: KindCard, Rate: 15}, {Kind: KindInvoices, Rate: 3000}, {Kind: KindPDF, Rate: 1000}}
	ceilings := []Stats{{Kind: KindNoopWorkflow, Rate: 25}, {Kind: KindActivityWorkflow, Rate: 20}, {Kind: KindBarePage, Rate: 5000}}
	o := Options{Mix: []Kind{KindCard, KindInvoices, KindPDF}, CeilingActivities: 4, CeilingLocal: true}
	got := compare(o, stats, ceilings)
	want := []Comparison{
		{What: "card", Rate: 15, Ceiling: string(KindNoopWorkflow), CeilingRate: 25, Ratio: 0.6, Target: 0.6},
		{What: "card", Rate: 15, Ceiling: "workflow, 4 no-op local activities", CeilingRate: 20, Ratio: 0.75},
		{What: "invoices", Rate: 3000, Ceiling: string(KindBarePage), CeilingRate: 5000, Ratio: 0.6, Target: 0.5},
		{What: "pdf", Rate: 1000, Ceiling: string(KindBarePage), CeilingRate: 5000, Ratio: 0.2},
	}
	if len(got) != len(want) {
		t.Fatalf("comparisons = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("comparison %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := compare(o, stats[:1], nil); len(got) != 0 {
		t.Errorf("without ceilings: %+v, want none", got)
	}
}

func TestFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                             "–",
		420 * time.Microsecond:        "0.42 ms",
		ms(12) + 340*time.Microsecond: "12.3 ms",
		ms(188):                       "188 ms",
		ms(5120):                      "5120 ms",
		ms(10700):                     "10.7 s",
	} {
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTableIsMarkdown(t *testing.T) {
	var b bytes.Buffer
	table(&b, []string{"kind", "per s"}, [][]string{{"card", "20.6"}})
	want := "| kind | per s |\n|---|---:|\n| card | 20.6 |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSpreadPicksOverTheLatencyRange(t *testing.T) {
	t0 := time.Now()
	var samples []sample
	for i := 10; i >= 1; i-- { // slowest first, to see them sorted
		samples = append(samples, sample{kind: KindCard, start: t0, end: t0.Add(ms(i)), counted: true, ref: "wf"})
	}
	samples = append(samples, sample{kind: KindCard, start: t0, end: t0.Add(ms(99)), counted: true, err: "x", ref: "wf"})
	got := spread(samples, KindCard, 3)
	if len(got) != 3 || got[0].end.Sub(t0) != ms(1) || got[1].end.Sub(t0) != ms(5) || got[2].end.Sub(t0) != ms(10) {
		t.Errorf("spread of 10 into 3: %v", got)
	}
	if got := spread(samples, KindCard, 50); len(got) != 10 {
		t.Errorf("asking for more than there are: %d, want the 10 successes", len(got))
	}
}

func TestPhaseCountMode(t *testing.T) {
	var ops atomic.Int64
	r := phase{clients: 3, count: 20, op: func(context.Context, int, int) sample {
		ops.Add(1)
		return sample{kind: KindSummary}
	}}.run(context.Background())
	counted := 0
	for _, s := range r.samples {
		if s.counted {
			counted++
		}
	}
	if counted != 20 || ops.Load() != 20 {
		t.Errorf("count mode without warm-up: %d counted of %d run, want exactly 20 of 20", counted, ops.Load())
	}
	if st := summarize(KindSummary, r.samples, r.window); st.Count != 20 || r.window <= 0 {
		t.Errorf("count mode: %+v over %v", st, r.window)
	}
}

func TestPhaseDurationModeCountsCompletionsInTheWindow(t *testing.T) {
	r := phase{clients: 2, warmup: 30 * time.Millisecond, duration: 60 * time.Millisecond,
		op: func(context.Context, int, int) sample {
			time.Sleep(5 * time.Millisecond)
			return sample{kind: KindSummary}
		}}.run(context.Background())
	if r.window != 60*time.Millisecond {
		t.Errorf("window = %v, want exactly the duration", r.window)
	}
	var counted, warm int
	first := r.samples[0].start
	for _, s := range r.samples {
		switch {
		case s.counted:
			counted++
		case s.end.Sub(first) < 30*time.Millisecond:
			warm++
		}
	}
	if counted == 0 || warm == 0 {
		t.Errorf("%d counted, %d in the warm-up: want both", counted, warm)
	}
}

func TestWriteBooks(t *testing.T) {
	var b bytes.Buffer
	writeBooks(&b, Books{PaymentsSeen: 3, SucceededSeen: 3, LedgerEntries: 3}, nil)
	if !strings.Contains(b.String(), "nothing lost, nothing doubled") {
		t.Errorf("books that agree: %s", b.String())
	}
	b.Reset()
	bad := Books{SucceededSeen: 3, LedgerEntries: 4, Problems: []string{"customers saw 3 payments succeed, the ledger holds 4"}}
	if bad.OK() {
		t.Error("a problem must fail the books")
	}
	writeBooks(&b, bad, nil)
	if !strings.Contains(b.String(), "DISAGREE") || !strings.Contains(b.String(), "ledger holds 4") {
		t.Errorf("books that disagree: %s", b.String())
	}
}

func TestWriteCPUShowsWhatOthersUsed(t *testing.T) {
	var b bytes.Buffer
	writeCPU(&b, []CPUUse{{Phase: "customers", Cores: map[string]float64{"api": 0.5, "worker": 0.25, "machine": 1.75}}})
	want := "| CPU cores used | api | worker | machine | others (machine − these) |\n|---|---:|---:|---:|---:|\n| customers | 0.50 | 0.25 | 1.75 | 1.00 |\n"
	if b.String() != want {
		t.Errorf("cpu table:\n%s\nwant:\n%s", b.String(), want)
	}
}
