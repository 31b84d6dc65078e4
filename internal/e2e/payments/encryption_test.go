package payments_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/testenv"
)

// plainClient is a Temporal client without PayPortal's codec: what anyone with read access to
// the namespace, but not the key, has.
func plainClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Logger: testenv.NopTemporalLogger()})
	if err != nil {
		testenv.Unavailable(t, "dial temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// historyPayloads are every payload of h but the search attributes.
func historyPayloads(t *testing.T, h *historypb.History) []*commonpb.Payload {
	t.Helper()
	var all []*commonpb.Payload
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			all = append(all, p...)
			return p, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestHistoryPayloadsAreUnreadableWithoutTheKey: a card payment's history, read with a plain
// client, holds ciphertext only (every payload binary/encrypted under the development key, no
// card token, contact email or company name anywhere; ids such as the workflow's are not
// payloads and stay readable); the codec reads it, over HTTP
// through the ops listener's codec server as the Temporal UI calls it, and through the
// Temporal CLI's --codec-endpoint. Search attributes stay plain.
func TestHistoryPayloadsAreUnreadableWithoutTheKey(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.pay(cardPayment(1500, "4242424242424242", "937"))
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %+v", got)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	p.awaitMails(pay.ID, 1, 30*time.Second) // the receipt activity, with the contact's address, is in the history

	// Without the key.
	plain := plainClient(t)
	h := testenv.EncryptedWorkflowHistory(t, plain, pay.WorkflowID)
	raw, err := protojson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"tok_", "billing@demo-corp.example", "Demo Corp"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the history read without the key shows %q", secret)
		}
	}
	payloads := historyPayloads(t, h)
	if len(payloads) < 5 {
		t.Fatalf("%d payloads in the history; the check would prove nothing", len(payloads))
	}
	for i, pl := range payloads {
		if enc, id := string(pl.GetMetadata()["encoding"]), string(pl.GetMetadata()["encryption-key-id"]); enc != "binary/encrypted" || id != codec.DevelopmentKeyID {
			t.Errorf("payload %d: encoding %q, key %q; want binary/encrypted under %s", i, enc, id, codec.DevelopmentKeyID)
		}
		if bytes.Contains(pl.GetData(), []byte(pay.ID)) || bytes.Contains(pl.GetData(), []byte("tok_")) {
			t.Errorf("payload %d shows the payment id or the card token", i)
		}
	}
	input := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	var decoded map[string]any
	if err := converter.GetDefaultDataConverter().FromPayloads(input, &decoded); err == nil {
		t.Errorf("Temporal's default converter read the encrypted input: %v", decoded)
	}
	// Search attributes are not payloads: ops still find the workflow by them, and they hold
	// ids, statuses and amounts, nothing personal.
	desc, err := plain.DescribeWorkflowExecution(context.Background(), pay.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	var account string
	_ = json.Unmarshal(desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["AccountId"].GetData(), &account)
	if account != devdata.DemoAccountID {
		t.Errorf("AccountId search attribute %q, want %s in the clear", account, devdata.DemoAccountID)
	}

	// With the key, in process.
	if err := p.app.Codec.DataConverter().FromPayloads(input, &decoded); err != nil || decoded["PaymentID"] != pay.ID {
		t.Errorf("the codec decoded the input as %v, %v", decoded, err)
	}

	// Through the codec server, as the Temporal UI calls it.
	const uiOrigin = "http://127.0.0.1:8233"
	p.app.Config.CodecCORSOrigins = []string{uiOrigin}
	p.app.Config.CodecToken = "ops-token"
	ops := httptest.NewServer(p.app.OpsHandler())
	t.Cleanup(ops.Close)
	body, err := protojson.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(auth string) (*http.Response, []byte) {
		h := map[string]string{"Origin": uiOrigin, "X-Namespace": "default"}
		if auth != "" {
			h["Authorization"] = auth
		}
		return testenv.Do(t, ops.URL, testenv.Request{Method: http.MethodPost, Path: "/codec/decode", Body: body, Header: h})
	}
	if resp, answer := decode(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/codec/decode without the token: %d %s", resp.StatusCode, answer)
	}
	resp, answer := decode("Bearer ops-token")
	var out commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal(answer, &out) != nil || len(out.Payloads) != 1 ||
		string(out.Payloads[0].GetMetadata()["encoding"]) != "json/plain" || !bytes.Contains(out.Payloads[0].GetData(), []byte(pay.ID)) {
		t.Errorf("/codec/decode: %d %s; want the input in json/plain", resp.StatusCode, answer)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("/codec/decode CORS headers: %v", resp.Header)
	}
	pre, _ := testenv.Do(t, ops.URL, testenv.Request{Method: http.MethodOptions, Path: "/codec/decode",
		Header: map[string]string{"Origin": uiOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace,authorization"}})
	for _, h := range []string{"X-Namespace", "Authorization", "Content-Type"} {
		if pre.StatusCode/100 != 2 || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), h) {
			t.Errorf("preflight %d: Access-Control-Allow-Headers %q lacks %s", pre.StatusCode, pre.Header.Get("Access-Control-Allow-Headers"), h)
		}
	}

	// Through the Temporal CLI: ciphertext without the codec server, the payment with it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := devserver.FindCLI(ctx, "")
	if err != nil {
		testenv.Unavailable(t, "temporal CLI: %v", err)
	}
	// show answers the CLI's JSON with each payload's data (base64 there) decoded after it.
	show := func(extra ...string) string {
		args := append([]string{"workflow", "show", "--workflow-id", pay.WorkflowID, "--address", testenv.TemporalAddress(t),
			"--namespace", "default", "--output", "json"}, extra...)
		out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		text := string(out)
		for _, m := range payloadData.FindAllStringSubmatch(text, -1) {
			if data, err := base64.StdEncoding.DecodeString(m[1]); err == nil {
				text += "\n" + string(data)
			}
		}
		return text
	}
	if out := show(); strings.Contains(out, "tok_") || !strings.Contains(out, "YmluYXJ5L2VuY3J5cHRlZA==") { // "binary/encrypted"
		t.Errorf("`temporal workflow show` without the codec server shows the card token or no ciphertext:\n%.3000s", out)
	}
	if out := show("--codec-endpoint", ops.URL+"/codec", "--codec-auth", "Bearer ops-token"); !strings.Contains(out, "tok_") {
		t.Errorf("`temporal workflow show --codec-endpoint` does not show the workflow's input:\n%.3000s", out)
	}
}

// TestFailureMessagesAreEncrypted: a declined card's failure travels through the history as
// "Encoded failure", its message (the processor's words) encrypted; the codec gives it back.
func TestFailureMessagesAreEncrypted(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.pay(cardPayment(1500, "4000000000009995", "937"))
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "failed" {
		t.Fatalf("payment ended %+v, want failed", got)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	const message = "The card has insufficient funds."

	h := testenv.EncryptedWorkflowHistory(t, plainClient(t), pay.WorkflowID)
	raw, err := protojson.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("insufficient funds")) {
		t.Error("the decline message is in the history in the clear")
	}
	failures := 0
	for _, ev := range h.Events {
		f := ev.GetActivityTaskFailedEventAttributes().GetFailure()
		if f == nil {
			f = ev.GetMarkerRecordedEventAttributes().GetFailure() // a local activity's
		}
		if f == nil {
			continue
		}
		failures++
		if f.GetMessage() != "Encoded failure" || f.GetStackTrace() != "" ||
			string(f.GetEncodedAttributes().GetMetadata()["encoding"]) != "binary/encrypted" {
			t.Errorf("event %d (%s)'s failure: message %q, stack %q, attributes %v; want them encrypted",
				ev.GetEventId(), ev.GetEventType(), f.GetMessage(), f.GetStackTrace(), f.GetEncodedAttributes().GetMetadata())
		}
		if got := p.app.Codec.FailureConverter().FailureToError(f); !strings.Contains(got.Error(), message) {
			t.Errorf("event %d's failure decodes to %q, want %q", ev.GetEventId(), got, message)
		}
	}
	if failures == 0 {
		t.Fatalf("no failed activity in the history of %s", pay.WorkflowID)
	}
}
