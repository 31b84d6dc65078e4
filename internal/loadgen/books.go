package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/postgres"
)

// Books is what the check after the run found.
type Books struct {
	// Findings are the reconciliation pass's (the product's invariants, across the database).
	Findings []postgres.Finding
	// What the customers saw against what the database holds for the run's accounts.
	PaymentsSeen  int // payments the API created for the customers
	PaymentsInDB  int
	SucceededSeen int // payments the customers saw succeed
	SucceededInDB int
	LedgerEntries int // payment entries on the ledger
	InFlightInDB  int // payments not final
	// Problems says, in words, every disagreement above.
	Problems []string
}

// OK reports nothing lost, nothing doubled.
func (b Books) OK() bool { return len(b.Findings) == 0 && len(b.Problems) == 0 }

// checkBooks runs one reconciliation pass, the product's own check (`payportal reconcile`:
// stranded payments, the processors' captures, then the ledger invariants in SQL), and
// compares what the customers saw with the run's accounts in the database. Every payment has
// ended by now: the customers waited for each.
func checkBooks(ctx context.Context, a *app.App, accounts []account, samples []sample) (Books, error) {
	var b Books
	report, err := a.Reconcile(ctx)
	if err != nil {
		return b, fmt.Errorf("reconcile: %w", err)
	}
	b.Findings = report.Findings

	seen, paid := map[string]bool{}, map[string]bool{}
	for _, s := range samples {
		if s.payment != "" {
			seen[s.payment] = true
		}
		if s.paid {
			paid[s.payment] = true
		}
	}
	b.PaymentsSeen, b.SucceededSeen = len(seen), len(paid)
	ids := make([]string, len(accounts))
	for i, acct := range accounts {
		ids[i] = acct.ID
	}
	err = a.DB.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM payments WHERE account_id = ANY($1)),
		(SELECT count(*) FROM payments WHERE account_id = ANY($1) AND status = 'succeeded'),
		(SELECT count(*) FROM payments WHERE account_id = ANY($1) AND status IN ('processing', 'requires_action')),
		(SELECT count(*) FROM ledger_entries WHERE account_id = ANY($1) AND kind = 'payment')`, ids).
		Scan(&b.PaymentsInDB, &b.SucceededInDB, &b.InFlightInDB, &b.LedgerEntries)
	if err != nil {
		return b, fmt.Errorf("count the run's payments: %w", err)
	}
	if b.SucceededSeen != b.LedgerEntries {
		b.Problems = append(b.Problems, fmt.Sprintf("customers saw %d payments succeed, the ledger holds %d payment entries for their accounts",
			b.SucceededSeen, b.LedgerEntries))
	}
	if b.SucceededSeen != b.SucceededInDB {
		b.Problems = append(b.Problems, fmt.Sprintf("customers saw %d payments succeed, the database has %d succeeded", b.SucceededSeen, b.SucceededInDB))
	}
	if b.PaymentsSeen != b.PaymentsInDB {
		b.Problems = append(b.Problems, fmt.Sprintf("the API created %d payments for the customers, the database holds %d for their accounts",
			b.PaymentsSeen, b.PaymentsInDB))
	}
	if b.InFlightInDB != 0 {
		b.Problems = append(b.Problems, fmt.Sprintf("%d payments of the run's accounts are still processing or waiting for PayPal", b.InFlightInDB))
	}
	return b, nil
}

func writeBooks(w io.Writer, b Books, ours []account) {
	if b.OK() {
		fmt.Fprintf(w, "books: nothing lost, nothing doubled (reconciliation pass: no finding; %d payments, %d succeeded = %d ledger payment entries)\n",
			b.PaymentsSeen, b.SucceededSeen, b.LedgerEntries)
		return
	}
	fmt.Fprintln(w, "books: DISAGREE")
	for _, f := range b.Findings {
		whose := "another account"
		if slices.ContainsFunc(ours, func(a account) bool { return a.ID == f.AccountID }) {
			whose = "this run"
		}
		state := "UNRESOLVED"
		if f.Resolved {
			state = "resolved"
		}
		fmt.Fprintf(w, "  finding (%s, %s) %s account=%s payment=%s action=%s: %s\n", whose, state, f.Kind, f.AccountID, f.PaymentID, f.Action, f.Detail)
	}
	for _, p := range b.Problems {
		fmt.Fprintln(w, "  "+p)
	}
}
