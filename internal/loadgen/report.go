package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Stats is one kind of operation over a measured window: how many completed in it, how fast,
// and their latencies from exact percentiles of the sorted samples.
type Stats struct {
	Kind   Kind
	Count  int           // operations that succeeded and ended inside the window
	Window time.Duration // wall time of the window
	Rate   float64       // Count per second of Window
	P50    time.Duration
	P95    time.Duration
	P99    time.Duration
	Max    time.Duration
	// Errors counts failed operations by what went wrong ("POST payments: 503 unavailable"),
	// over the whole run (warm-up and drain included): any error fails the run.
	Errors map[string]int
	// ErrorDetail is one full message per error label, for the report.
	ErrorDetail map[string]string
}

// ErrorCount is the number of failed operations.
func (s Stats) ErrorCount() int {
	n := 0
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// summarize computes one kind's figures from every sample of a phase: counted successes give
// the rate and the latencies, errors are counted wherever they happened.
func summarize(kind Kind, samples []sample, window time.Duration) Stats {
	st := Stats{Kind: kind, Window: window, Errors: map[string]int{}, ErrorDetail: map[string]string{}}
	var lat []time.Duration
	for _, s := range samples {
		if s.kind != kind {
			continue
		}
		if s.err != "" {
			st.Errors[s.err]++
			if _, ok := st.ErrorDetail[s.err]; !ok {
				st.ErrorDetail[s.err] = s.detail
			}
			continue
		}
		if s.counted {
			lat = append(lat, s.end.Sub(s.start))
		}
	}
	slices.Sort(lat)
	st.Count = len(lat)
	st.Rate = rate(st.Count, window)
	st.P50, st.P95, st.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	if len(lat) > 0 {
		st.Max = lat[len(lat)-1]
	}
	return st
}

// percentile is the p-th percentile (0 < p ≤ 100) of sorted samples by the nearest-rank
// method: the smallest sample such that at least p % of the samples are at or below it. It is
// exact, as HdrHistogram's would be at these sizes, and answers 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps p·n/100 that is a whole number in decimal (95·100/100) from rounding
	// up to the next rank through binary floating point.
	rank := int(math.Ceil(p*float64(n)/100 - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// rate is count per second of window; 0 for an empty window.
func rate(count int, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return float64(count) / window.Seconds()
}

// ratio is a/b; 0 when there is no ceiling to compare with.
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// fmtDur prints a latency at a precision that reads well in a table.
func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "–"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms)
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func fmtRate(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

func fmtPercent(r float64) string {
	if r <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*r) // a decimal, so 49.7 % does not read as a met 50 %
}

// table writes a Markdown table, so a run's figures paste into BENCHMARKS.md as they are.
func table(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	align := make([]string, len(header))
	for i := range align {
		align[i] = "---:"
	}
	align[0] = "---"
	fmt.Fprintln(w, "|"+strings.Join(align, "|")+"|")
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

func statsRow(name string, s Stats) []string {
	return []string{name, fmt.Sprint(s.Count), fmtRate(s.Rate), fmtDur(s.P50), fmtDur(s.P95), fmtDur(s.P99),
		fmtDur(s.Max), fmt.Sprint(s.ErrorCount())}
}

var statsHeader = []string{"kind", "count", "per s", "p50", "p95", "p99", "max", "errors"}

// writeErrors lists every error label with its count and one full message.
func writeErrors(w io.Writer, stats []Stats) {
	for _, s := range stats {
		labels := make([]string, 0, len(s.Errors))
		for l := range s.Errors {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		for _, l := range labels {
			fmt.Fprintf(w, "  %s: %d× %s (e.g. %s)\n", s.Kind, s.Errors[l], l, s.ErrorDetail[l])
		}
	}
}

// Comparison is one figure against its ceiling.
type Comparison struct {
	What        string
	Rate        float64
	Ceiling     string
	CeilingRate float64
	Ratio       float64
	Target      float64 // 0: no target
}

// Met reports whether the ratio reaches its target (true without one).
func (c Comparison) Met() bool { return c.Target == 0 || c.Ratio >= c.Target }

func writeComparisons(w io.Writer, cs []Comparison) {
	var rows [][]string
	for _, c := range cs {
		target := "–"
		if c.Target > 0 {
			verdict := "met"
			if !c.Met() {
				verdict = "missed"
			}
			target = fmt.Sprintf("≥ %.0f %% (%s)", 100*c.Target, verdict)
		}
		rows = append(rows, []string{c.What, fmtRate(c.Rate), c.Ceiling, fmtRate(c.CeilingRate), fmtPercent(c.Ratio), target})
	}
	table(w, []string{"figure", "per s", "ceiling", "ceiling per s", "ratio", "target"}, rows)
}
