package paypal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// fakePayPal answers like PayPal's documented Orders v2 API and remembers what it was asked.
type fakePayPal struct {
	t *testing.T

	mu            sync.Mutex
	tokens        int               // tokens issued
	tokenLifetime int               // seconds
	revoked       map[string]bool   // tokens to answer 401 for
	replies       map[string]string // PayPal-Request-Id → first answer
	orders        map[string]string // order id → status
	captures      map[string]string // order id → capture id
	answers       map[string]string // order id → the JSON a GET of the order answers, as PayPal would
	requests      []*http.Request
	bodies        []string
	failNext      int // answer the next calls 503
}

func newFake(t *testing.T) (*fakePayPal, *Client) {
	f := &fakePayPal{t: t, tokenLifetime: 32400, revoked: map[string]bool{}, replies: map[string]string{},
		orders: map[string]string{}, captures: map[string]string{}, answers: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/", ClientID: "client-id", ClientSecret: "s3cret", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakePayPal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, string(body))
	w.Header().Set("Content-Type", "application/json")

	if r.URL.Path == "/v1/oauth2/token" {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "client-id" || secret != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"Client Authentication failed"}`)
			return
		}
		if r.Method != http.MethodPost || string(body) != "grant_type=client_credentials" ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			f.t.Errorf("token request: %s %q %s", r.Method, body, r.Header.Get("Content-Type"))
		}
		f.tokens++
		fmt.Fprintf(w, `{"scope":"https://uri.paypal.com/services/payments/payment","access_token":"A21AA-%d","token_type":"Bearer","app_id":"APP-80W284485P519543T","expires_in":%d,"nonce":"2020-04-03T15:35:36ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg"}`,
			f.tokens, f.tokenLifetime)
		return
	}

	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !strings.HasPrefix(token, "A21AA-") || f.revoked[token] {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_token","error_description":"Token signature verification failed"}`)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if f.failNext > 0 {
		f.failNext--
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"name":"SERVICE_UNAVAILABLE","message":"Service Unavailable.","debug_id":"90957fca61718"}`)
		return
	}
	reqID := r.Header.Get("PayPal-Request-Id")
	if r.Method == http.MethodPost && reqID == "" {
		f.t.Errorf("POST %s without PayPal-Request-Id", r.URL.Path)
	}
	if prev, ok := f.replies[r.URL.Path+"|"+reqID]; ok && reqID != "" {
		fmt.Fprint(w, prev)
		return
	}
	status, answer := f.route(r, body)
	if status < 300 && reqID != "" {
		f.replies[r.URL.Path+"|"+reqID] = answer
	}
	w.WriteHeader(status)
	fmt.Fprint(w, answer)
}

func (f *fakePayPal) route(r *http.Request, body []byte) (int, string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/checkout/orders":
		id := fmt.Sprintf("5O190127TN36471%02d", len(f.orders))
		f.orders[id] = "PAYER_ACTION_REQUIRED"
		return http.StatusOK, fmt.Sprintf(`{"id":"%[1]s","status":"PAYER_ACTION_REQUIRED","payment_source":{"paypal":{}},"links":[
			{"href":"https://api-m.paypal.com/v2/checkout/orders/%[1]s","rel":"self","method":"GET"},
			{"href":"https://www.paypal.com/checkoutnow?token=%[1]s","rel":"payer-action","method":"GET"}]}`, id)
	case len(parts) == 5 && parts[4] == "capture" && r.Method == http.MethodPost:
		id := parts[3]
		switch f.orders[id] {
		case "":
			return http.StatusNotFound, `{"name":"RESOURCE_NOT_FOUND","details":[{"issue":"INVALID_RESOURCE_ID","description":"Specified resource ID does not exist."}],"message":"The specified resource does not exist.","debug_id":"c1"}`
		case "PAYER_ACTION_REQUIRED":
			return http.StatusUnprocessableEntity, `{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"ORDER_NOT_APPROVED","description":"Payer has not yet approved the Order for payment."}],"message":"The requested action could not be performed, semantically incorrect, or failed business validation.","debug_id":"d1"}`
		case "DECLINING":
			return http.StatusUnprocessableEntity, `{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"INSTRUMENT_DECLINED","description":"The instrument presented was either declined by the processor or bank, or it can't be used for this payment."}],"message":"The requested action could not be performed.","debug_id":"d2"}`
		case "COMPLETED":
			return http.StatusUnprocessableEntity, `{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"ORDER_ALREADY_CAPTURED","description":"Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."}],"message":"The requested action could not be performed.","debug_id":"d3"}`
		}
		capID := fmt.Sprintf("3C679366HH9089%03d", len(f.captures))
		f.orders[id], f.captures[id] = "COMPLETED", capID
		return http.StatusCreated, f.orderJSON(id)
	case len(parts) == 4 && r.Method == http.MethodGet:
		id := parts[3]
		if answer, ok := f.answers[id]; ok {
			return http.StatusOK, answer
		}
		if f.orders[id] == "" {
			return http.StatusNotFound, `{"name":"RESOURCE_NOT_FOUND","details":[{"field":"order_id","value":"` + id + `","location":"path","issue":"INVALID_RESOURCE_ID","description":"Specified resource ID does not exist. Please check the resource ID and try again."}],"message":"The specified resource does not exist.","debug_id":"g1"}`
		}
		return http.StatusOK, f.orderJSON(id)
	case len(parts) == 5 && parts[4] == "refund":
		var in struct {
			Amount amount `json:"amount"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Amount.Value == "" {
			return http.StatusBadRequest, `{"name":"INVALID_REQUEST","message":"Request is not well-formed.","details":[{"issue":"MALFORMED_REQUEST_JSON"}]}`
		}
		if in.Amount.Value == "999.99" {
			return http.StatusUnprocessableEntity, `{"name":"UNPROCESSABLE_ENTITY","details":[{"issue":"REFUND_AMOUNT_EXCEEDED","description":"The refund amount must be less than or equal to the capture amount that has not yet been refunded."}],"message":"The requested action could not be performed.","debug_id":"r1"}`
		}
		return http.StatusCreated, `{"id":"1JU08902781691411","status":"COMPLETED","links":[{"href":"https://api-m.paypal.com/v2/payments/refunds/1JU08902781691411","rel":"self","method":"GET"}]}`
	}
	return http.StatusNotFound, `{"name":"RESOURCE_NOT_FOUND","message":"no route"}`
}

// orderJSON is the order as PayPal shows it: with its capture once it has one.
func (f *fakePayPal) orderJSON(id string) string {
	payments := ""
	if capID := f.captures[id]; capID != "" {
		payments = fmt.Sprintf(`,"payments":{"captures":[{"id":"%s","status":"COMPLETED",
		"amount":{"currency_code":"USD","value":"100.00"},"final_capture":true}]}`, capID)
	}
	return fmt.Sprintf(`{"id":"%s","intent":"CAPTURE","status":"%s","payment_source":{"paypal":{"email_address":"buyer@example.com"}},
		"purchase_units":[{"reference_id":"default","amount":{"currency_code":"USD","value":"100.00"}%s}],
		"payer":{"payer_id":"QYR5Z8XDVJNXQ"},"links":[{"href":"https://api-m.paypal.com/v2/checkout/orders/%[1]s","rel":"self","method":"GET"}]}`,
		id, f.orders[id], payments)
}

func (f *fakePayPal) set(orderID, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orders[orderID] = status
}

func (f *fakePayPal) last() (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1], f.bodies[len(f.bodies)-1]
}

func TestCreateOrder(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t)
	req := gateway.OrderRequest{
		Amount: billing.Money{Amount: 12345, Currency: "USD"}, RequestID: "pay_1/order", Description: "PayPortal payment pay_1",
		ReturnURL: "http://127.0.0.1:8080/v1/paypal/return", CancelURL: "http://127.0.0.1:8080/v1/paypal/cancel",
	}
	o, err := c.CreateOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "5O190127TN3647100" || o.ApprovalURL != "https://www.paypal.com/checkoutnow?token=5O190127TN3647100" {
		t.Errorf("order = %+v", o)
	}
	r, body := f.last()
	if r.Header.Get("PayPal-Request-Id") != "pay_1/order" || r.Header.Get("Authorization") != "Bearer A21AA-1" {
		t.Errorf("headers = %v", r.Header)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(body), &sent); err != nil {
		t.Fatal(err)
	}
	want := `{"intent":"CAPTURE","payment_source":{"paypal":{"experience_context":{"cancel_url":"http://127.0.0.1:8080/v1/paypal/cancel","return_url":"http://127.0.0.1:8080/v1/paypal/return","shipping_preference":"NO_SHIPPING","user_action":"PAY_NOW"}}},"purchase_units":[{"amount":{"currency_code":"USD","value":"123.45"},"description":"PayPortal payment pay_1","reference_id":"pay_1/order"}]}`
	if got, _ := json.Marshal(sent); string(got) != want {
		t.Errorf("body =\n%s\nwant\n%s", got, want)
	}

	// The same request id answers the same order; the token is reused.
	again, err := c.CreateOrder(ctx, req)
	if err != nil || again != o {
		t.Errorf("replay = %+v, %v", again, err)
	}
	if f.tokens != 1 {
		t.Errorf("tokens fetched = %d, want 1", f.tokens)
	}
}

func TestCaptureOrder(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t)
	o, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 10000, Currency: "USD"}, RequestID: "pay_2/order"})
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.CaptureOrder(ctx, o.ID, "pay_2/capture-1")
	if d, ok := gateway.AsDecline(err); !ok || d.Code != gateway.CodeOrderNotApproved || d.Message == "" {
		t.Fatalf("capture before approval = %v, want decline order_not_approved", err)
	}

	f.set(o.ID, "APPROVED")
	capID, err := c.CaptureOrder(ctx, o.ID, "pay_2/capture-2")
	if err != nil || capID != "3C679366HH9089000" {
		t.Fatalf("capture = %q, %v", capID, err)
	}
	r, body := f.last()
	if r.URL.Path != "/v2/checkout/orders/"+o.ID+"/capture" || r.Header.Get("PayPal-Request-Id") != "pay_2/capture-2" || body != "" {
		t.Errorf("capture request %s %v %q", r.URL.Path, r.Header, body)
	}
	// Same request id: PayPal replays. Another request id: ORDER_ALREADY_CAPTURED, read back.
	for _, reqID := range []string{"pay_2/capture-2", "pay_2/capture-3"} {
		if again, err := c.CaptureOrder(ctx, o.ID, reqID); err != nil || again != capID {
			t.Errorf("capture with %s = %q, %v; want %q", reqID, again, err, capID)
		}
	}

	f.set("DECLINEDORDER0001", "DECLINING")
	_, err = c.CaptureOrder(ctx, "DECLINEDORDER0001", "pay_3/capture")
	if d, ok := gateway.AsDecline(err); !ok || d.Code != gateway.CodeInstrumentDeclined {
		t.Errorf("declined capture = %v", err)
	}
	_, err = c.CaptureOrder(ctx, "UNKNOWNORDER00001", "pay_4/capture")
	if !errors.Is(err, gateway.ErrNotFound) || !gateway.IsPermanent(err) {
		t.Errorf("unknown order = %v, want ErrNotFound", err)
	}
}

func TestTransientAndTokenRenewal(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return clock }
	f.tokenLifetime = 600

	f.failNext = 1
	_, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 500, Currency: "JPY"}, RequestID: "pay_5/order"})
	var apiErr *APIError
	if !gateway.IsTransient(err) || gateway.IsPermanent(err) || !errors.As(err, &apiErr) || apiErr.Status != 503 {
		t.Fatalf("503 = %v, want transient", err)
	}
	if _, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 500, Currency: "JPY"}, RequestID: "pay_5/order"}); err != nil {
		t.Fatal(err)
	}
	if _, body := f.last(); !strings.Contains(body, `"value":"500"`) || !strings.Contains(body, `"currency_code":"JPY"`) {
		t.Errorf("JPY body = %s", body)
	}
	if f.tokens != 1 {
		t.Errorf("tokens = %d, want 1", f.tokens)
	}

	// Near expiry the token is renewed before use.
	clock = clock.Add(9*time.Minute + 30*time.Second)
	if _, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 1, Currency: "USD"}, RequestID: "pay_6/order"}); err != nil {
		t.Fatal(err)
	}
	if f.tokens != 2 {
		t.Errorf("tokens after expiry = %d, want 2", f.tokens)
	}

	// A token PayPal refuses early is replaced once.
	f.mu.Lock()
	f.revoked["A21AA-2"] = true
	f.mu.Unlock()
	if _, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 1, Currency: "USD"}, RequestID: "pay_7/order"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.last(); r.Header.Get("Authorization") != "Bearer A21AA-3" {
		t.Errorf("after 401 used %s", r.Header.Get("Authorization"))
	}

	// Network failure: transient.
	dead, _ := New(Config{BaseURL: "http://127.0.0.1:1", ClientID: "a", ClientSecret: "b"})
	if _, err := dead.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 1, Currency: "USD"}, RequestID: "x"}); !gateway.IsTransient(err) {
		t.Errorf("unreachable = %v, want transient", err)
	}
	// Wrong credentials: neither transient nor silent.
	bad, _ := New(Config{BaseURL: c.base, ClientID: "client-id", ClientSecret: "wrong", HTTPClient: c.http})
	if _, err := bad.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 1, Currency: "USD"}, RequestID: "y"}); err == nil || gateway.IsTransient(err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("bad credentials = %v", err)
	}
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	f, c := newFake(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, err := c.CreateOrder(context.Background(), gateway.OrderRequest{
				Amount: billing.Money{Amount: 100, Currency: "EUR"}, RequestID: fmt.Sprintf("pay_c%d/order", i)})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.tokens != 1 {
		t.Errorf("tokens = %d, want 1", f.tokens)
	}
}

func TestRefundCapture(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t)
	id, err := c.RefundCapture(ctx, "3C679366HH908993F", billing.Money{Amount: 1050, Currency: "USD"}, "pay_1/refund")
	if err != nil || id != "1JU08902781691411" {
		t.Fatalf("refund = %q, %v", id, err)
	}
	r, body := f.last()
	if r.URL.Path != "/v2/payments/captures/3C679366HH908993F/refund" || r.Header.Get("PayPal-Request-Id") != "pay_1/refund" ||
		body != `{"amount":{"currency_code":"USD","value":"10.50"}}` {
		t.Errorf("refund request %s %v %s", r.URL.Path, r.Header, body)
	}
	_, err = c.RefundCapture(ctx, "3C679366HH908993F", billing.Money{Amount: 99999, Currency: "USD"}, "pay_1/refund-2")
	var apiErr *APIError
	if !errors.Is(err, gateway.ErrInvalidState) || !errors.As(err, &apiErr) || apiErr.Issue() != "REFUND_AMOUNT_EXCEEDED" {
		t.Errorf("over-refund = %v", err)
	}
	if _, err := c.RefundCapture(ctx, "X", billing.Money{Amount: 1, Currency: "USD"}, ""); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Errorf("refund without request id = %v", err)
	}
	if err := c.VoidOrder(ctx, "ANY"); err != nil {
		t.Errorf("VoidOrder = %v", err)
	}
}

func TestToAmount(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
		wantErr  bool
	}{
		{12345, "USD", "123.45", false},
		{5, "EUR", "0.05", false},
		{100, "GBP", "1.00", false},
		{99, "USD", "0.99", false},
		{500, "JPY", "500", false},
		{1, "JPY", "1", false},
		{1234, "KWD", "1.234", false},
		{7, "BHD", "0.007", false},
		{150000, "HUF", "1500", false},
		{150050, "HUF", "", true},
		{12300, "TWD", "123", false},
		{922337203685477580, "USD", "9223372036854775.80", false},
		{0, "USD", "", true},
		{-5, "USD", "", true},
		{5, "usd", "", true},
	}
	for _, tt := range tests {
		got, err := toAmount(billing.Money{Amount: tt.amount, Currency: tt.currency})
		if tt.wantErr {
			if !errors.Is(err, gateway.ErrInvalidRequest) {
				t.Errorf("toAmount(%d %s) = %v, want ErrInvalidRequest", tt.amount, tt.currency, err)
			}
			continue
		}
		if err != nil || got.Value != tt.want || got.CurrencyCode != tt.currency {
			t.Errorf("toAmount(%d %s) = %+v, %v; want %s", tt.amount, tt.currency, got, err, tt.want)
		}
	}
}

func TestLookupOrderFollowsTheOrder(t *testing.T) {
	ctx := context.Background()
	f, c := newFake(t)
	o, err := c.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 10000, Currency: "USD"}, RequestID: "pay_8/order"})
	if err != nil {
		t.Fatal(err)
	}
	usd100 := billing.Money{Amount: 10000, Currency: "USD"}

	got, err := c.LookupOrder(ctx, o.ID)
	if want := (gateway.OrderState{ID: o.ID, Status: gateway.OrderCreated, Amount: usd100}); err != nil || got != want {
		t.Errorf("new order = %+v, %v; want %+v", got, err, want)
	}
	r, body := f.last()
	if r.Method != http.MethodGet || r.URL.Path != "/v2/checkout/orders/"+o.ID || r.Header.Get("PayPal-Request-Id") != "" || body != "" {
		t.Errorf("lookup request %s %s %v %q", r.Method, r.URL.Path, r.Header, body)
	}

	f.set(o.ID, "APPROVED")
	if got, err := c.LookupOrder(ctx, o.ID); err != nil || got.Status != gateway.OrderApproved || got.CaptureID != "" {
		t.Errorf("approved order = %+v, %v", got, err)
	}

	capID, err := c.CaptureOrder(ctx, o.ID, "pay_8/capture")
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.LookupOrder(ctx, o.ID)
	if want := (gateway.OrderState{ID: o.ID, Status: gateway.OrderCaptured, Amount: usd100, CaptureID: capID}); err != nil || got != want {
		t.Errorf("captured order = %+v, %v; want %+v", got, err, want)
	}

	_, err = c.LookupOrder(ctx, "UNKNOWNORDER00001")
	var apiErr *APIError
	if !errors.Is(err, gateway.ErrNotFound) || !gateway.IsPermanent(err) || !errors.As(err, &apiErr) || apiErr.Name != "RESOURCE_NOT_FOUND" {
		t.Errorf("unknown order = %v, want ErrNotFound", err)
	}

	f.failNext = 1
	if _, err := c.LookupOrder(ctx, o.ID); !gateway.IsTransient(err) {
		t.Errorf("503 = %v, want transient", err)
	}
	if _, err := c.LookupOrder(ctx, ""); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Errorf("empty order id = %v", err)
	}
}

// TestLookupOrderReadsPayPalsAnswers maps the order answers PayPal documents for Orders v2.
func TestLookupOrderReadsPayPalsAnswers(t *testing.T) {
	const id = "5O190127TN364715T"
	order := func(status, unit string) string {
		return `{"id":"` + id + `","intent":"CAPTURE","status":"` + status + `","purchase_units":[` + unit + `],
			"links":[{"href":"https://api-m.paypal.com/v2/checkout/orders/` + id + `","rel":"self","method":"GET"}]}`
	}
	unit := func(payments string) string {
		u := `{"reference_id":"pay_1/order","amount":{"currency_code":"USD","value":"100.00"}`
		if payments != "" {
			u += `,"payments":` + payments
		}
		return u + "}"
	}
	captureOf := func(status string) string {
		return `{"id":"3C679366HH908993F","status":"` + status + `","amount":{"currency_code":"USD","value":"100.00"},
			"final_capture":true,"seller_protection":{"status":"ELIGIBLE"},"create_time":"2026-03-01T12:00:00Z"}`
	}
	refundOf := func(id, status, value string) string {
		return `{"id":"` + id + `","status":"` + status + `","amount":{"currency_code":"USD","value":"` + value + `"}}`
	}
	usd100 := billing.Money{Amount: 10000, Currency: "USD"}
	captured := func(refunded int64) gateway.OrderState {
		return gateway.OrderState{ID: id, Status: gateway.OrderCaptured, Amount: usd100, CaptureID: "3C679366HH908993F", Refunded: refunded}
	}
	tests := []struct {
		name    string
		answer  string
		want    gateway.OrderState
		wantErr bool
	}{
		{"created", order("CREATED", unit("")), gateway.OrderState{ID: id, Status: gateway.OrderCreated, Amount: usd100}, false},
		{"saved", order("SAVED", unit("")), gateway.OrderState{ID: id, Status: gateway.OrderCreated, Amount: usd100}, false},
		{"payer action required", order("PAYER_ACTION_REQUIRED", unit("")), gateway.OrderState{ID: id, Status: gateway.OrderCreated, Amount: usd100}, false},
		{"approved", order("APPROVED", unit("")), gateway.OrderState{ID: id, Status: gateway.OrderApproved, Amount: usd100}, false},
		{"approved, capture declined", order("APPROVED", unit(`{"captures":[`+captureOf("DECLINED")+`]}`)),
			gateway.OrderState{ID: id, Status: gateway.OrderApproved, Amount: usd100}, false},
		{"voided", order("VOIDED", unit("")), gateway.OrderState{ID: id, Status: gateway.OrderClosed, Amount: usd100}, false},
		{"completed", order("COMPLETED", unit(`{"captures":[`+captureOf("COMPLETED")+`]}`)), captured(0), false},
		{"completed, capture pending review", order("COMPLETED", unit(`{"captures":[`+captureOf("PENDING")+`]}`)), captured(0), false},
		{"completed, capture declined", order("COMPLETED", unit(`{"captures":[`+captureOf("DECLINED")+`]}`)),
			gateway.OrderState{ID: id, Status: gateway.OrderClosed, Amount: usd100}, false},
		{"partially refunded", order("COMPLETED", unit(`{"captures":[`+captureOf("PARTIALLY_REFUNDED")+`],"refunds":[`+
			refundOf("1JU08902781691411", "COMPLETED", "10.50")+`,`+refundOf("2GJ56578Y3325711D", "FAILED", "5.00")+`,`+
			refundOf("8AB12345C6789012E", "PENDING", "1.00")+`]}`)), captured(1150), false},
		{"refunded in full, refunds listed", order("COMPLETED", unit(`{"captures":[`+captureOf("REFUNDED")+`],"refunds":[`+
			refundOf("1JU08902781691411", "COMPLETED", "60.00")+`,`+refundOf("9XY98765Z4321098A", "COMPLETED", "40.00")+`]}`)), captured(10000), false},
		{"refunded in full, no refunds listed", order("COMPLETED", unit(`{"captures":[`+captureOf("REFUNDED")+`]}`)), captured(10000), false},
		{"partially refunded, no refunds listed", order("COMPLETED", unit(`{"captures":[`+captureOf("PARTIALLY_REFUNDED")+`]}`)), gateway.OrderState{}, true},
		{"completed without a capture", order("COMPLETED", unit("")), gateway.OrderState{}, true},
		{"unknown status", order("TELEPORTED", unit("")), gateway.OrderState{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t)
			f.answers[id] = tt.answer
			got, err := c.LookupOrder(context.Background(), id)
			if tt.wantErr {
				// Never a guess: an answer PayPortal cannot read fully is an error, neither a
				// decline nor "not found".
				if err == nil || errors.Is(err, gateway.ErrNotFound) || gateway.IsTransient(err) {
					t.Errorf("LookupOrder = %+v, %v; want an error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("LookupOrder = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}

	// Zero-decimal currencies read back in their own minor unit.
	f, c := newFake(t)
	f.answers[id] = `{"id":"` + id + `","status":"COMPLETED","purchase_units":[{"amount":{"currency_code":"JPY","value":"500"},
		"payments":{"captures":[{"id":"CAPJPY","status":"COMPLETED","amount":{"currency_code":"JPY","value":"500"}}]}}]}`
	got, err := c.LookupOrder(context.Background(), id)
	if want := (gateway.OrderState{ID: id, Status: gateway.OrderCaptured, Amount: billing.Money{Amount: 500, Currency: "JPY"}, CaptureID: "CAPJPY"}); err != nil || got != want {
		t.Errorf("JPY order = %+v, %v; want %+v", got, err, want)
	}
}

func TestFromAmount(t *testing.T) {
	tests := []struct {
		value, currency string
		want            int64
		wantErr         bool
	}{
		{"123.45", "USD", 12345, false},
		{"0.05", "EUR", 5, false},
		{"1", "USD", 100, false},
		{"1.5", "USD", 150, false},
		{"1.500", "USD", 150, false},
		{"500", "JPY", 500, false},
		{"1.234", "KWD", 1234, false},
		{"1500", "HUF", 150000, false},
		{"1500.00", "HUF", 150000, false},
		{"123", "TWD", 12300, false},
		{"9223372036854775.80", "USD", 922337203685477580, false},
		{"1.234", "USD", 0, true},
		{"1.5", "JPY", 0, true},
		{"1500.50", "HUF", 0, true},
		{"-1.00", "USD", 0, true},
		{"", "USD", 0, true},
		{".50", "USD", 0, true},
		{"1e3", "USD", 0, true},
		{"1.00", "usd", 0, true},
		{"99999999999999999999", "USD", 0, true},
	}
	for _, tt := range tests {
		got, err := fromAmount(amount{CurrencyCode: tt.currency, Value: tt.value})
		if tt.wantErr {
			if err == nil {
				t.Errorf("fromAmount(%q %s) = %+v, want an error", tt.value, tt.currency, got)
			}
			continue
		}
		if err != nil || got != (billing.Money{Amount: tt.want, Currency: tt.currency}) {
			t.Errorf("fromAmount(%q %s) = %+v, %v; want %d", tt.value, tt.currency, got, err, tt.want)
		}
		// What toAmount writes, fromAmount reads back.
		if back, err := toAmount(got); err != nil {
			t.Errorf("toAmount(%+v) = %v", got, err)
		} else if again, err := fromAmount(back); err != nil || again != got {
			t.Errorf("round trip of %+v = %+v, %v", got, again, err)
		}
	}
}
