package payments_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// linked is what every payment and card answer carries besides the rest.
type linked struct {
	ID        string            `json:"id"`
	Status    string            `json:"status"`
	InvoiceID *string           `json:"invoice_id"`
	Metadata  map[string]string `json:"metadata"`
}

type linkedPage struct {
	Data []linked `json:"data"`
}

func (p *portal) getLinked(key, path string) (int, []byte) {
	p.t.Helper()
	resp, raw := testenv.Do(p.t, p.base, testenv.Request{Path: path, Key: key})
	return resp.StatusCode, raw
}

// find answers the item of a list page with id.
func find(t *testing.T, raw []byte, id string) linked {
	t.Helper()
	for _, d := range decode[linkedPage](t, raw).Data {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("%s is not in %s", id, raw)
	return linked{}
}

// TestMetadataRoundTrips: metadata sent with a payment and with a card comes back in the
// POST's answer, the GET, the lists and the rep's queue, as sent (case and Unicode kept);
// the same Idempotency-Key with other metadata is another request (409), with the same
// metadata a replay (202). A recurring charge names its invoice, a one-time payment none.
func TestMetadataRoundTrips(t *testing.T) {
	p := startPortal(t, portalOptions{})
	meta := map[string]string{"order_id": "A-1001", "Order_ID": "case matters", "note": "Grüße aus 東京"}

	body := cardPayment(700, "4242 4242 4242 4242", "123")
	body["metadata"] = meta
	status, raw := p.call(http.MethodPost, demoPath+"/payments", "meta-key", body)
	if status != http.StatusAccepted {
		t.Fatalf("POST payment: %d %s", status, raw)
	}
	pay := decode[linked](t, raw)
	if !maps.Equal(pay.Metadata, meta) || pay.InvoiceID != nil {
		t.Errorf("the POST's answer: metadata %v invoice_id %v, want %v and null", pay.Metadata, pay.InvoiceID, meta)
	}
	_, raw = p.call(http.MethodGet, demoPath+"/payments/"+pay.ID, "", nil)
	if got := decode[linked](t, raw); !maps.Equal(got.Metadata, meta) {
		t.Errorf("GET payment: metadata %v, want %v", got.Metadata, meta)
	}
	_, raw = p.call(http.MethodGet, demoPath+"/payments?limit=100", "", nil)
	if got := find(t, raw, pay.ID); !maps.Equal(got.Metadata, meta) {
		t.Errorf("the payment list: metadata %v, want %v", got.Metadata, meta)
	}
	if status, raw := p.call(http.MethodPost, demoPath+"/payments", "meta-key", body); status != http.StatusAccepted || decode[linked](t, raw).ID != pay.ID {
		t.Errorf("the same request again: %d %s, want 202 with %s", status, raw, pay.ID)
	}
	other := cardPayment(700, "4242 4242 4242 4242", "123")
	other["metadata"] = map[string]string{"order_id": "A-1002", "Order_ID": "case matters", "note": "Grüße aus 東京"}
	if status, raw := p.call(http.MethodPost, demoPath+"/payments", "meta-key", other); status != http.StatusConflict {
		t.Errorf("the same key with other metadata: %d %s, want 409", status, raw)
	}
	p.awaitFinal(pay.ID, 30*time.Second)

	// A payment without metadata shows {}.
	plain := p.pay(paypalPayment(100))
	_, raw = p.call(http.MethodGet, demoPath+"/payments/"+plain.ID, "", nil)
	if !json.Valid(raw) || string(mustField(t, raw, "metadata")) != "{}" {
		t.Errorf("a payment without metadata: %s, want metadata {}", raw)
	}

	// A card on file, through to the rep who approves it.
	cardMeta := map[string]string{"cost_center": "CC-42"}
	status, raw = p.call(http.MethodPost, demoPath+"/payment-methods", "", map[string]any{
		"card":             map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 3, "cvc": "123", "holder_name": "Dana Demo"},
		"use_company_info": true, "contact_email": "ap@demo.example", "metadata": cardMeta})
	if status != http.StatusAccepted {
		t.Fatalf("POST payment-method: %d %s", status, raw)
	}
	pm := decode[linked](t, raw)
	for what, path := range map[string]string{"GET": demoPath + "/payment-methods/" + pm.ID, "list": demoPath + "/payment-methods?limit=100"} {
		_, raw := p.call(http.MethodGet, path, "", nil)
		got := decode[linked](t, raw)
		if what == "list" {
			got = find(t, raw, pm.ID)
		}
		if !maps.Equal(got.Metadata, cardMeta) {
			t.Errorf("card %s: metadata %v, want %v", what, got.Metadata, cardMeta)
		}
	}
	var queued linked
	for cursor := ""; queued.ID == ""; {
		path := "/v1/rep/payment-methods?limit=100"
		if cursor != "" {
			path += "&starting_after=" + cursor
		}
		status, raw := p.getLinked(devdata.DemoRepKey, path)
		page := decode[linkedPage](t, raw)
		if status != http.StatusOK || len(page.Data) == 0 {
			t.Fatalf("the rep's queue: %d %s, without %s", status, raw, pm.ID)
		}
		for _, d := range page.Data {
			if d.ID == pm.ID {
				queued = d
			}
		}
		cursor = page.Data[len(page.Data)-1].ID
	}
	if !maps.Equal(queued.Metadata, cardMeta) {
		t.Errorf("the rep's queue: metadata %v, want %v", queued.Metadata, cardMeta)
	}
	resp, raw := testenv.Do(t, p.base, testenv.Request{Method: http.MethodPost, Path: "/v1/rep/payment-methods/" + pm.ID + "/decision",
		Key: devdata.DemoRepKey, Body: map[string]any{"decision": "approve"}})
	if got := decode[linked](t, raw); resp.StatusCode != http.StatusOK || !maps.Equal(got.Metadata, cardMeta) {
		t.Errorf("the rep's decision: %d %s, want 200 with the metadata", resp.StatusCode, raw)
	}

	// A recurring charge as the month's workflow prepares it names its invoice.
	ctx := context.Background()
	var invoiceID string
	if err := p.db.Pool.QueryRow(ctx, `SELECT id FROM invoices WHERE account_id = $1 AND type = 'recurring' AND status = 'open'
		ORDER BY created_at DESC LIMIT 1`, devdata.DemoAccountID).Scan(&invoiceID); err != nil {
		t.Skipf("no open recurring invoice in the seed: %v", err)
	}
	chargeID := workflows.RecurringPaymentID(invoiceID, 1)
	c, err := p.db.PrepareInvoiceCharge(ctx, devdata.DemoAccountID, invoiceID, &billing.Payment{ID: chargeID,
		Status: billing.PaymentProcessing, Method: billing.MethodCard, CardToken: "tok_test", CardBrand: "visa", CardLast4: "4242",
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), WorkflowID: workflows.PaymentWorkflowID(chargeID)})
	if err != nil || !c.Created {
		t.Skipf("the seed leaves nothing to charge on %s: %+v %v", invoiceID, c, err)
	}
	_, raw = p.call(http.MethodGet, demoPath+"/payments/"+chargeID, "", nil)
	if got := decode[linked](t, raw); got.InvoiceID == nil || *got.InvoiceID != invoiceID {
		t.Errorf("the recurring charge: %s, want invoice_id %s", raw, invoiceID)
	}
	_, raw = p.call(http.MethodGet, demoPath+"/payments?limit=100", "", nil)
	if got := find(t, raw, chargeID); got.InvoiceID == nil || *got.InvoiceID != invoiceID {
		t.Errorf("the recurring charge in the list: invoice_id %v, want %s", got.InvoiceID, invoiceID)
	}
}

func mustField(t *testing.T, raw []byte, field string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m[field]
}
