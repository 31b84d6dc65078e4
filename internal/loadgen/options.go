package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/config"
)

// Kind is one kind of operation the tool measures.
type Kind string

// What customers do (-mix).
const (
	// KindCard is a one-time card payment: POST, then wait for the final status.
	KindCard Kind = "card"
	// KindPayPal is a PayPal payment approved on the sandbox's checkout page.
	KindPayPal Kind = "paypal"
	// KindAddCard is a card put on file, approved by the rep, until validated.
	KindAddCard Kind = "add-card"
	// KindSummary, KindInvoices and KindPDF are reads: the billing summary, the first invoice
	// page (25 rows) and one stored invoice PDF.
	KindSummary  Kind = "summary"
	KindInvoices Kind = "invoices"
	KindPDF      Kind = "pdf"
)

// The ceilings, measured with the same number of clients.
const (
	KindNoopWorkflow     Kind = "workflow, no activities"
	KindActivityWorkflow Kind = "workflow, no-op activities"
	KindBarePage         Kind = "gin+pgx 25-row page"
)

var (
	allKinds     = []Kind{KindCard, KindPayPal, KindAddCard, KindSummary, KindInvoices, KindPDF}
	paymentKinds = []Kind{KindCard, KindPayPal}
	readKinds    = []Kind{KindSummary, KindInvoices, KindPDF}
)

// rounds is how many rounds the run measures in: one with a count, or without ceilings to
// interleave.
func (o Options) rounds() int {
	if o.Count > 0 || !o.Ceilings || o.Rounds < 1 {
		return 1
	}
	return o.Rounds
}

// name is how the report calls a kind: the second workflow ceiling says what it runs.
func (o Options) name(k Kind) string {
	if k != KindActivityWorkflow {
		return string(k)
	}
	local := ""
	if o.CeilingLocal {
		local = " local"
	}
	return fmt.Sprintf("workflow, %d no-op%s activities", o.CeilingActivities, local)
}

// workflowKind says whether the kind runs workflows, so the workflow ceilings apply.
func workflowKind(k Kind) bool { return k == KindCard || k == KindPayPal || k == KindAddCard }

// CardSagaActivities is how many activities the card payment saga runs on its happy path
// (workflows/payment.go: authorize, capture, book; the receipt left the saga for the books'
// outbox in its version 5), local activities since the saga's version 2 (versionLocalSteps);
// the second workflow ceiling runs as many no-op ones, local too by default. Count them again
// when the saga changes.
const CardSagaActivities = 3

// Options are the flags of `payportal loadgen`.
type Options struct {
	Base      string        // PayPortal's API
	Database  string        // the database PayPortal uses; accounts and keys are written there
	Temporal  string        // the Temporal frontend PayPortal uses (ceilings, histories, reconcile)
	Namespace string        // Temporal namespace
	Customers int           // concurrent customers (and clients of each ceiling)
	Accounts  int           // accounts the customers share, round-robin
	Duration  time.Duration // measured time, after the warm-up
	// Rounds splits Duration into this many rounds, each measuring the customers and every
	// ceiling in turn, so that the machine's other load weighs on all of them alike.
	Rounds   int
	Count    int           // >0: measure this many operations instead of a duration
	Warmup   time.Duration // run, not counted, before the measured window
	Mix      []Kind        // what customers do, in turn
	Ceilings bool          // measure the ceilings in the same run
	// CeilingActivities is the no-op activity count of the second workflow ceiling, and
	// CeilingLocal runs them as local activities, as the card saga runs its steps.
	CeilingActivities int
	CeilingLocal      bool
	Poll              time.Duration // interval of GETs while waiting for a final status
	Timeout           time.Duration // longest wait for one operation's final status
	Histories         int           // payments whose Temporal history is broken down (0: none)
	// CPU names processes whose CPU use is reported per phase ("api=123,worker=456"); the
	// database's Postgres backends and this process are always included (Linux only).
	CPU map[string]int
	// Invoices is how many invoices each account gets (one open with the balance to pay, the
	// others paid), so that the invoice page holds 25 rows.
	Invoices int
}

// ParseFlags reads the flags; defaults come from PayPortal's settings (DATABASE_URL,
// TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE). Usage and errors go to out.
func ParseFlags(args []string, cfg config.Config, out io.Writer) (Options, error) {
	o := Options{CPU: map[string]int{}}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: payportal loadgen [flags]\n\n"+
			"Drives a running PayPortal (development only) with concurrent customers, prints throughput,\n"+
			"latency percentiles and errors per kind, the ceilings measured in the same run, and checks\n"+
			"the books afterwards (exit 1 on any error or finding).\n\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Base, "base", "http://127.0.0.1:8080", "PayPortal's API base URL")
	fs.StringVar(&o.Database, "database", cfg.DatabaseURL, "PayPortal's database (accounts and keys are created there)")
	fs.StringVar(&o.Temporal, "temporal", cfg.TemporalAddress, "PayPortal's Temporal frontend (host:port)")
	fs.StringVar(&o.Namespace, "namespace", orString(cfg.TemporalNamespace, "default"), "Temporal namespace")
	fs.IntVar(&o.Customers, "customers", 5, "concurrent customers (and clients of each ceiling)")
	fs.IntVar(&o.Accounts, "accounts", 0, "accounts the customers share (0: one per customer)")
	fs.DurationVar(&o.Duration, "duration", 20*time.Second, "measured time after the warm-up")
	fs.IntVar(&o.Rounds, "rounds", 4, "split -duration into rounds that interleave the customers and the ceilings (a warm-up each)")
	fs.IntVar(&o.Count, "count", 0, "measure this many operations instead of -duration")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "warm-up before the measured window, not counted")
	mix := fs.String("mix", "all", "what customers do, in turn: all, or a comma list of card, paypal, add-card, summary, invoices, pdf, payments (card,paypal), reads (summary,invoices,pdf)")
	fs.BoolVar(&o.Ceilings, "ceilings", true, "measure the ceilings in the same run (no-op workflows, bare Gin+pgx page)")
	fs.IntVar(&o.CeilingActivities, "ceiling-activities", CardSagaActivities, "no-op activities of the second workflow ceiling (the card saga's happy path)")
	fs.BoolVar(&o.CeilingLocal, "ceiling-local", true, "run the second ceiling's activities as local activities, as the card saga runs its steps")
	fs.DurationVar(&o.Poll, "poll", 20*time.Millisecond, "interval of GETs while waiting for a final status")
	fs.DurationVar(&o.Timeout, "timeout", time.Minute, "longest wait for one operation to end")
	fs.IntVar(&o.Histories, "histories", 20, "payments (and ceiling workflows) whose Temporal history is broken down; 0: none")
	cpu := fs.String("cpu", "", "processes whose CPU use is reported per phase, e.g. api=123,worker=456,temporal=789")
	fs.IntVar(&o.Invoices, "invoices", 30, "invoices per account (one open with the balance, the others paid)")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.Mix, err = parseMix(*mix); err != nil {
		return Options{}, err
	}
	if o.CPU, err = parseCPU(*cpu); err != nil {
		return Options{}, err
	}
	if o.Accounts == 0 {
		o.Accounts = o.Customers
	}
	return o, o.validate()
}

func (o Options) validate() error {
	u, err := url.Parse(o.Base)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("-base %q: want a URL such as http://127.0.0.1:8080", o.Base)
	case o.Database == "":
		return errors.New("-database is required")
	case o.Temporal == "":
		return errors.New("-temporal is required")
	case o.Customers < 1:
		return errors.New("-customers must be at least 1")
	case o.Accounts < 1:
		return errors.New("-accounts must be at least 1")
	case o.Count < 0:
		return errors.New("-count must not be negative")
	case o.Count == 0 && o.Duration <= 0:
		return errors.New("-duration must be positive (or give -count)")
	case o.Rounds < 1:
		return errors.New("-rounds must be at least 1")
	case o.Count == 0 && o.Duration/time.Duration(o.Rounds) < 100*time.Millisecond:
		return errors.New("-duration is too short for that many -rounds")
	case o.Warmup < 0:
		return errors.New("-warmup must not be negative")
	case o.Poll <= 0 || o.Timeout <= 0:
		return errors.New("-poll and -timeout must be positive")
	case o.CeilingActivities < 0:
		return errors.New("-ceiling-activities must not be negative")
	case o.Invoices < 1:
		return errors.New("-invoices must be at least 1")
	}
	return nil
}

// parseMix turns "card,reads" into kinds, in the order given, each once.
func parseMix(s string) ([]Kind, error) {
	var out []Kind
	add := func(ks ...Kind) {
		for _, k := range ks {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	for _, part := range strings.Split(s, ",") {
		switch p := Kind(strings.TrimSpace(part)); p {
		case "all":
			add(allKinds...)
		case "payments":
			add(paymentKinds...)
		case "reads":
			add(readKinds...)
		case KindCard, KindPayPal, KindAddCard, KindSummary, KindInvoices, KindPDF:
			add(p)
		default:
			return nil, fmt.Errorf("-mix: unknown %q; want all, payments, reads, card, paypal, add-card, summary, invoices or pdf", part)
		}
	}
	return out, nil
}

// parseCPU reads "api=123,worker=456".
func parseCPU(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, pid, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return nil, fmt.Errorf("-cpu: %q is not name=pid", part)
		}
		out[name] = n
	}
	return out, nil
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
