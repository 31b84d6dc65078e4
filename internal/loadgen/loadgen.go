// Package loadgen is `payportal loadgen`: it drives a running PayPortal over HTTP with
// concurrent customers (card and PayPal payments, cards put on file and decided by the rep,
// reads), prints throughput, latency percentiles and errors per kind, measures in the same run
// the ceilings those figures are compared with (a no-op workflow, one with as many no-op
// activities as the card saga, and a bare Gin+pgx page on the same Temporal and Postgres),
// and checks the books afterwards. It is for development systems only: it writes accounts and
// API keys into PayPortal's database.
package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/temporalclient"
)

// ErrRunFailed is a run that saw an error or a finding; the report says which.
var ErrRunFailed = errors.New("loadgen: the run saw errors or the books disagree; see the report above")

// Targets from issue 10: card payments against the no-op workflow, reads against the bare
// Gin+pgx page.
const (
	cardTarget = 0.60
	readTarget = 0.50
)

// Main is `payportal loadgen [flags]`: it runs and prints the report on stdout.
func Main(ctx context.Context, cfg config.Config, log *slog.Logger, args []string) error {
	o, err := ParseFlags(args, cfg, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// The SDK and the mailer speak at info for every worker start and mail; the report is
	// what matters here.
	log = slog.New(atLeast{Handler: log.Handler(), min: slog.LevelWarn})
	res, err := Run(ctx, cfg, o, log, os.Stdout)
	if err != nil {
		return err
	}
	if res.Failed() {
		return ErrRunFailed
	}
	return nil
}

// Result is one run's figures.
type Result struct {
	RunID       string
	Accounts    []string
	Stats       []Stats // per kind of the mix
	Ceilings    []Stats
	Comparisons []Comparison
	Histories   []HistoryColumn
	CPU         []CPUUse
	Books       Books
}

// Failed reports an error in any operation, ceilings included, or books that disagree.
func (r *Result) Failed() bool {
	for _, s := range slices.Concat(r.Stats, r.Ceilings) {
		if s.ErrorCount() > 0 {
			return true
		}
	}
	return !r.Books.OK()
}

// Run creates the run's accounts, drives PayPortal with the customers in rounds interleaved
// with the ceilings, checks the books, breaks sampled histories down, and writes the report
// to out.
func Run(ctx context.Context, cfg config.Config, o Options, log *slog.Logger, out io.Writer) (*Result, error) {
	if err := checkDevelopment(cfg, o.Database); err != nil {
		return nil, err
	}
	// The reconciliation pass runs in this process over PayPortal's own parts, as
	// `payportal reconcile` does. The system driven pays with the sandbox's test cards, so it
	// runs in development: so do those parts, even when only the database says so.
	acfg := cfg
	acfg.Env = config.EnvDevelopment
	acfg.DatabaseURL, acfg.TemporalAddress, acfg.TemporalNamespace = o.Database, o.Temporal, o.Namespace
	keys, err := acfg.PayloadKeyRing()
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, o.Database)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// PayPortal's client settings, its payload codec included: the reconciliation pass
	// reads PayPortal's workflows, and the ceilings pay for encryption as the payments do.
	dial := func() (client.Client, error) {
		return temporalclient.Dial(ctx, temporalclient.Options{Address: o.Temporal, Namespace: o.Namespace, Logger: log,
			Codec: codec.New(keys)})
	}
	tc, err := dial()
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	a, err := app.New(acfg, log, db, tc)
	if err != nil {
		return nil, err
	}

	res := &Result{RunID: newRunID()}
	hc := newHTTPClient(o.Customers)
	fmt.Fprintf(out, "payportal loadgen, run %s: %d customers over %d accounts, mix %s, %s; %s, Temporal %s, database %s\n",
		res.RunID, o.Customers, o.Accounts, mixName(o.Mix), measured(o), o.Base, o.Temporal, databaseName(o.Database))
	fmt.Fprintf(out, "machine: %s/%s, %d cores, %s; load average before: %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), loadAverage())

	accounts, err := createAccounts(ctx, db, res.RunID, o.Accounts, o.Invoices, time.Now().UTC())
	if err != nil {
		return nil, fmt.Errorf("create the run's accounts: %w", err)
	}
	for _, acct := range accounts {
		res.Accounts = append(res.Accounts, acct.ID)
		if err := prime(ctx, hc, o.Base, acct, databaseName(o.Database)); err != nil {
			return nil, err
		}
	}
	customers := make([]*customer, o.Customers)
	for i := range customers {
		customers[i] = &customer{http: hc, base: o.Base, acct: accounts[i%len(accounts)], repKey: repKey,
			prefix: fmt.Sprintf("loadgen-%s-%d", res.RunID, i), poll: o.Poll, timeout: o.Timeout}
	}

	// What is measured: the customers, then each ceiling that applies to the mix.
	main := &measurement{name: "customers (" + mixName(o.Mix) + ")", op: func(ctx context.Context, c, seq int) sample {
		// Each customer goes through the mix in turn, starting at its own place in it.
		return customers[c].do(ctx, o.Mix[(c+seq)%len(o.Mix)])
	}}
	ms := []*measurement{main}
	if o.Ceilings {
		if slices.ContainsFunc(o.Mix, workflowKind) {
			taskQueue := "loadgen-" + res.RunID
			// The ceilings' worker has a connection of its own, as PayPortal's worker process
			// has: its long polls do not queue behind the clients' calls.
			wc, err := dial()
			if err != nil {
				return nil, err
			}
			defer wc.Close()
			stop, err := startCeilingWorker(wc, taskQueue)
			if err != nil {
				return nil, err
			}
			defer stop()
			ms = append(ms,
				&measurement{kind: KindNoopWorkflow, op: workflowOp(tc, taskQueue, res.RunID, KindNoopWorkflow, 0, false)},
				&measurement{kind: KindActivityWorkflow, op: workflowOp(tc, taskQueue, res.RunID, KindActivityWorkflow, o.CeilingActivities, o.CeilingLocal)})
		}
		if slices.ContainsFunc(o.Mix, func(k Kind) bool { return slices.Contains(readKinds, k) }) {
			bare, err := startBareServer(ctx, o.Database)
			if err != nil {
				return nil, err
			}
			defer bare.Close()
			ms = append(ms, &measurement{kind: KindBarePage, op: bareOp(hc, bare.URL, accounts)})
		}
	}
	for _, m := range ms[1:] {
		m.name = "ceiling: " + o.name(m.kind)
	}
	rounds := o.rounds()
	watch := cpuWatch{named: o.CPU, database: databaseName(o.Database)}
	for r := range rounds {
		for i := range ms {
			// The order turns each round, so a change in the machine's other load falls on
			// every measurement alike.
			m := ms[(i+r)%len(ms)]
			p := phase{clients: o.Customers, warmup: o.Warmup, duration: o.Duration / time.Duration(rounds), op: m.op}
			if o.Count > 0 { // one round, the customers first; the ceilings for as long as they took
				p.count, p.duration = o.Count, main.window
				if m != main {
					p.count = 0
				}
			}
			before := watch.snapshot()
			pr := p.run(ctx)
			m.cpu = m.cpu.merge(watch.since(m.name, before))
			m.samples = append(m.samples, pr.samples...)
			m.window += pr.window
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}

	for _, k := range o.Mix {
		res.Stats = append(res.Stats, summarize(k, main.samples, main.window))
	}
	fmt.Fprintf(out, "\nPayPortal (%s measured%s; latency of a payment: POST to its final status):\n\n", fmtWindow(main.window), roundsNote(rounds, len(ms)))
	var rows [][]string
	for _, s := range res.Stats {
		rows = append(rows, statsRow(string(s.Kind), s))
	}
	table(out, statsHeader, rows)
	writeErrors(out, res.Stats)

	res.Books, err = checkBooks(ctx, a, accounts, main.samples)
	if err != nil {
		return res, fmt.Errorf("check the books: %w", err)
	}
	fmt.Fprintln(out)
	writeBooks(out, res.Books, accounts)

	var all []sample
	for _, m := range ms {
		all = append(all, m.samples...)
		res.CPU = append(res.CPU, m.cpu)
		if m != main {
			res.Ceilings = append(res.Ceilings, summarize(m.kind, m.samples, m.window))
		}
	}
	if len(res.Ceilings) > 0 {
		fmt.Fprintf(out, "\nCeilings (%d clients each, %s measured, as the customers):\n\n", o.Customers, fmtWindow(ms[1].window))
		rows = nil
		for _, s := range res.Ceilings {
			rows = append(rows, statsRow(o.name(s.Kind), s))
		}
		table(out, statsHeader, rows)
		writeErrors(out, res.Ceilings)
		res.Comparisons = compare(o, res.Stats, res.Ceilings)
		fmt.Fprintf(out, "\nAgainst the ceilings (same clients, same duration, same machine):\n\n")
		writeComparisons(out, res.Comparisons)
		if len(o.Mix) > 1 {
			fmt.Fprintf(out, "(the customers shared their time among %d kinds; a kind's ratio means most with -mix <kind> alone)\n", len(o.Mix))
		}
	}

	if o.Histories > 0 {
		for _, k := range append(slices.Clone(o.Mix), KindNoopWorkflow, KindActivityWorkflow) {
			if col, ok := breakDown(ctx, tc, all, k, o.Histories); ok {
				res.Histories = append(res.Histories, col)
			}
		}
		if len(res.Histories) > 0 {
			fmt.Fprintf(out, "\nWhere a workflow's time goes (Temporal histories of up to %d runs per kind, spread over the latency range):\n\n", o.Histories)
			writeHistories(out, res.Histories, o.name)
		}
	}
	if len(res.CPU) > 0 && len(res.CPU[0].Cores) > 0 {
		fmt.Fprintf(out, "\nCPU (cores, average over each measurement incl. warm-up and drain; the machine has %d):\n\n", runtime.NumCPU())
		writeCPU(out, res.CPU)
	}
	if res.Failed() {
		fmt.Fprintln(out, "\nRESULT: FAILED (errors above, or the books disagree)")
	} else {
		fmt.Fprintln(out, "\nRESULT: ok, no error")
	}
	return res, nil
}

// measurement is the customers or one ceiling, over every round.
type measurement struct {
	name    string
	kind    Kind // a ceiling's
	op      func(ctx context.Context, c, seq int) sample
	samples []sample
	window  time.Duration
	cpu     CPUUse
}

func roundsNote(rounds, measurements int) string {
	if rounds == 1 || measurements == 1 {
		return ""
	}
	return fmt.Sprintf(" in %d rounds, interleaved with the ceilings", rounds)
}

// compare sets each measured kind against its ceiling.
func compare(o Options, stats, ceilings []Stats) []Comparison {
	ceiling := map[Kind]Stats{}
	for _, c := range ceilings {
		ceiling[c.Kind] = c
	}
	var out []Comparison
	add := func(s Stats, against Kind, target float64) {
		c, ok := ceiling[against]
		if !ok {
			return
		}
		out = append(out, Comparison{What: string(s.Kind), Rate: s.Rate, Ceiling: o.name(against),
			CeilingRate: c.Rate, Ratio: ratio(s.Rate, c.Rate), Target: target})
	}
	for _, s := range stats {
		switch s.Kind {
		case KindCard:
			add(s, KindNoopWorkflow, cardTarget)
			add(s, KindActivityWorkflow, 0)
		case KindPayPal, KindAddCard:
			add(s, KindNoopWorkflow, 0)
		case KindSummary, KindInvoices:
			add(s, KindBarePage, readTarget)
		case KindPDF:
			add(s, KindBarePage, 0)
		}
	}
	return out
}

// prime checks that the API at base reads the database loadgen wrote the account into, and
// renders the account's PDF once so that the measured downloads serve the stored file.
func prime(ctx context.Context, hc *http.Client, base string, acct account, dbName string) error {
	path := base + "/v1/accounts/" + acct.ID
	status, raw, _, err := send(ctx, hc, http.MethodGet, path+"/billing-summary", acct.Key, nil, nil)
	switch {
	case err != nil:
		return fmt.Errorf("reach PayPortal at %s: %w", base, err)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("PayPortal at %s does not know the key loadgen created in database %s: is it running against that database (-database)?", base, dbName)
	case status != http.StatusOK:
		return fmt.Errorf("GET %s/billing-summary answered %d: %.300s", path, status, raw)
	}
	status, raw, _, err = send(ctx, hc, http.MethodGet, path+"/invoices/"+acct.PDFInvoice+"/pdf", acct.Key, nil, nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("render the PDF of %s once: %d %v %.200s", acct.PDFInvoice, status, err, raw)
	}
	return nil
}

func mixName(mix []Kind) string {
	names := make([]string, len(mix))
	for i, k := range mix {
		names[i] = string(k)
	}
	return strings.Join(names, ",")
}

func measured(o Options) string {
	if o.Count > 0 {
		return fmt.Sprintf("%d operations measured after a %s warm-up", o.Count, o.Warmup)
	}
	if r := o.rounds(); r > 1 {
		return fmt.Sprintf("%s measured in %d rounds, each after a %s warm-up", o.Duration, r, o.Warmup)
	}
	return fmt.Sprintf("%s measured after a %s warm-up", o.Duration, o.Warmup)
}

func fmtWindow(d time.Duration) string { return d.Round(time.Millisecond).String() }

// loadAverage is the machine's 1-minute load average, to tell a busy machine from a slow system.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// atLeast drops records below min.
type atLeast struct {
	slog.Handler
	min slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return atLeast{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{Handler: h.Handler.WithGroup(name), min: h.min}
}
