package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// TestRepQueuePagesPastACardDecidedMeanwhile: a rep lists the first page of the queue,
// decides a card on it, and asks for the next page after that card: the page goes on from
// where the card stood (200), not a 422 because the card left the queue.
func TestRepQueuePagesPastACardDecidedMeanwhile(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(ctx, db, readNow); err != nil {
		t.Fatal(err)
	}
	ids := []string{"pm_q1", "pm_q2", "pm_q3", "pm_q4", "pm_q5"}
	for i, id := range ids {
		pm := billing.PaymentMethod{
			ID: id, AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation, ProcessorToken: "tok_" + id,
			Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Ada", ContactEmail: "a@example.com",
			BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
			CreatedAt:      readNow.Add(time.Duration(i) * time.Minute), ValidationDeadline: readNow.Add(24 * time.Hour),
			WorkflowID: "card-validation/" + id,
		}
		if err := db.CreatePaymentMethod(ctx, pm); err != nil {
			t.Fatal(err)
		}
	}
	srv := &api.Server{Auth: db, Cards: &portal.Cards{DB: db}, Limits: api.RateLimits{PerSecond: 1e6, Burst: 1_000_000},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	queue := func(query string) (int, []string, bool) {
		t.Helper()
		resp, raw := testenv.Do(t, ts.URL, testenv.Request{Path: "/v1/rep/payment-methods" + query, Key: devdata.DemoRepKey})
		var page struct {
			Data    []struct{ ID string }
			HasMore bool `json:"has_more"`
		}
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil, false
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		var got []string
		for _, d := range page.Data {
			got = append(got, d.ID)
		}
		return resp.StatusCode, got, page.HasMore
	}

	status, first, more := queue("?limit=2")
	if status != http.StatusOK || !slices.Equal(first, []string{"pm_q1", "pm_q2"}) || !more {
		t.Fatalf("page 1: %d %v more=%v, want pm_q1 pm_q2 and more", status, first, more)
	}
	// The rep decides the last card of the page (and one further on) before paging on.
	for _, id := range []string{"pm_q2", "pm_q3"} {
		if _, changed, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: id, Status: billing.PMValidated,
			Reason: "verified", DecidedBy: "key_rep", At: readNow.Add(time.Hour)}); err != nil || !changed {
			t.Fatalf("decide %s: changed=%v err=%v", id, changed, err)
		}
	}
	status, second, more := queue("?limit=2&starting_after=pm_q2")
	if status != http.StatusOK || !slices.Equal(second, []string{"pm_q4", "pm_q5"}) || more {
		t.Errorf("page 2 after the decided pm_q2: %d %v more=%v, want 200 with pm_q4 pm_q5 and no more", status, second, more)
	}
	// A cursor that names no card at all is still a 422.
	if status, _, _ := queue("?starting_after=pm_nope"); status != http.StatusUnprocessableEntity {
		t.Errorf("unknown cursor: %d, want 422", status)
	}
}
