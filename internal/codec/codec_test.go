package codec_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/codec"
)

// newKeySpec is one ring entry with a fresh random key.
func newKeySpec(t *testing.T, id string) string {
	t.Helper()
	b := make([]byte, codec.KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

func mustRing(t *testing.T, spec string) codec.KeyRing {
	t.Helper()
	r, err := codec.ParseKeyRing(spec)
	if err != nil {
		t.Fatalf("ParseKeyRing: %v", err)
	}
	return r
}

const secret = "Ada Lovelace <ada@example.com>, 1 Main Street"

func TestPayloadsAreEncryptedUnderTheFirstKey(t *testing.T) {
	c := codec.New(mustRing(t, newKeySpec(t, "k2026")+","+newKeySpec(t, "k2025")))
	dc := c.DataConverter()
	p, err := dc.ToPayload(map[string]string{"contact": secret})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.GetMetadata()["encoding"]); got != "binary/encrypted" {
		t.Errorf("encoding %q, want binary/encrypted", got)
	}
	if got := string(p.GetMetadata()["encryption-key-id"]); got != "k2026" {
		t.Errorf("key id %q, want the first key k2026", got)
	}
	if bytes.Contains(p.GetData(), []byte("ada@example.com")) || bytes.Contains(p.GetData(), []byte("json/plain")) {
		t.Error("the encrypted payload shows its content or its inner encoding")
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil {
		t.Fatal(err)
	}
	if back["contact"] != secret {
		t.Errorf("round trip gave %v", back)
	}
	// The same value encrypts differently every time (a fresh nonce).
	q, _ := dc.ToPayload(map[string]string{"contact": secret})
	if bytes.Equal(p.GetData(), q.GetData()) {
		t.Error("two encryptions of one value are identical")
	}
}

// TestPlainPayloadsPassThrough: histories written before encryption still decode.
func TestPlainPayloadsPassThrough(t *testing.T) {
	plain, err := converter.GetDefaultDataConverter().ToPayload("recorded before encryption")
	if err != nil {
		t.Fatal(err)
	}
	c := codec.New(codec.DevelopmentKeyRing())
	out, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != plain {
		t.Errorf("a plain payload was changed: %v", out[0])
	}
	var s string
	if err := c.DataConverter().FromPayload(plain, &s); err != nil || s != "recorded before encryption" {
		t.Errorf("FromPayload of a plain payload: %q, %v", s, err)
	}
}

// TestOldKeyDecryptsAfterRotation: rotation puts a new key first; what the old key encrypted
// still reads while the old key stays in the ring, and names the missing key once it leaves.
func TestOldKeyDecryptsAfterRotation(t *testing.T) {
	oldSpec, newSpec := newKeySpec(t, "old"), newKeySpec(t, "new")
	before := codec.New(mustRing(t, oldSpec)).DataConverter()
	oldPayload, err := before.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}

	rotated := codec.New(mustRing(t, newSpec+","+oldSpec)).DataConverter()
	var got string
	if err := rotated.FromPayload(oldPayload, &got); err != nil || got != secret {
		t.Fatalf("after rotation the old payload reads %q, %v", got, err)
	}
	newPayload, err := rotated.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	if id := string(newPayload.GetMetadata()["encryption-key-id"]); id != "new" {
		t.Errorf("after rotation payloads are encrypted with %q, want new", id)
	}
	// A worker not yet rotated (old key only) cannot read the new key's payloads: deploy
	// the ring with the new key second first, then move it first.
	if err := before.FromPayload(newPayload, &got); err == nil || !strings.Contains(err.Error(), `"new"`) {
		t.Errorf("a ring without the new key decoded its payload, or did not name the key: %v", err)
	}

	retired := codec.New(mustRing(t, newSpec)).DataConverter()
	if err := retired.FromPayload(oldPayload, &got); err == nil || !strings.Contains(err.Error(), `"old"`) {
		t.Errorf("without the old key: %v, want an error naming key \"old\"", err)
	}
}

func TestTamperedPayloadIsRefused(t *testing.T) {
	c := codec.New(codec.DevelopmentKeyRing())
	p, err := c.DataConverter().ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	p.Data[len(p.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{p}); err == nil {
		t.Error("a tampered payload decoded")
	}
}

// TestFailureMessagesAreEncrypted: a failure's message and stack trace travel in an encrypted
// payload; the history shows a placeholder.
func TestFailureMessagesAreEncrypted(t *testing.T) {
	c := codec.New(codec.DevelopmentKeyRing())
	fc := c.FailureConverter()
	f := fc.ErrorToFailure(temporal.NewApplicationError("card of "+secret+" declined", "CardDeclined"))
	if strings.Contains(f.GetMessage(), "ada@") || f.GetStackTrace() != "" {
		t.Errorf("failure message %q / stack %q are in the clear", f.GetMessage(), f.GetStackTrace())
	}
	attrs := f.GetEncodedAttributes()
	if string(attrs.GetMetadata()["encoding"]) != "binary/encrypted" || bytes.Contains(attrs.GetData(), []byte("ada@")) {
		t.Errorf("encoded attributes are not encrypted: %v", attrs)
	}
	err := fc.FailureToError(f)
	// Decoding leaves the failure as it was: a local activity's marker sends this very
	// failure to the server after the workflow has read it.
	if f.GetMessage() != "Encoded failure" || f.GetStackTrace() != "" {
		t.Errorf("FailureToError wrote the plain message back into the failure: %q", f.GetMessage())
	}
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !strings.Contains(app.Error(), "ada@example.com") || app.Type() != "CardDeclined" {
		t.Errorf("decoded failure %v (%T)", err, err)
	}
}

func TestParseKeyRing(t *testing.T) {
	good := newKeySpec(t, "a")
	short := "b:" + base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for _, tc := range []struct{ spec, want string }{
		{"", "no key"},
		{" , ", "no key"},
		{"nocolon", "key 1: want id:base64key"},
		{":" + strings.SplitN(good, ":", 2)[1], "key 1: want id:base64key"},
		{"bad id:" + strings.SplitN(good, ":", 2)[1], "key 1: want id:base64key"},
		{good + "," + short, "key 2 (b): the key is 16 bytes, want 32"},
		{good + ",c:not base64!", "key 2 (c): the key is not base64"},
		{good + "," + good, `key 2: id "a" appears twice`},
	} {
		_, err := codec.ParseKeyRing(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyRing(%q): %v, want %q", tc.spec, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.SplitN(good, ":", 2)[1]) {
			t.Errorf("the error prints the key: %v", err)
		}
	}
	// URL-safe and unpadded base64 are keys too; the ring prints ids, never keys.
	raw := make([]byte, 32)
	raw[0] = 0xfb // makes the standard and URL-safe spellings differ
	spec := "url:" + base64.RawURLEncoding.EncodeToString(raw) + "," + good
	r := mustRing(t, spec)
	if got := fmt.Sprintf("%v %+v %#v %s", r, r, r, r); strings.Contains(got, base64.RawURLEncoding.EncodeToString(raw)) ||
		!strings.Contains(got, "url,a") {
		t.Errorf("the ring prints as %s", got)
	}
	if ids := r.IDs(); len(ids) != 2 || ids[0] != "url" {
		t.Errorf("IDs %v", ids)
	}
	if r.HoldsDevelopmentKey() {
		t.Error("a random ring holds the development key")
	}
	if dev := mustRing(t, "renamed:"+strings.SplitN(codec.DevelopmentKeyRingSpec(), ":", 2)[1]); !dev.HoldsDevelopmentKey() {
		t.Error("the development key under another id is not recognized")
	}
}
