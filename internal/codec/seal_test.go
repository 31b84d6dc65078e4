package codec

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// A sealed secret is not readable in the database, opens with any ring holding its key
// (rotation), and not with a ring that lacks it or after tampering.
func TestSealOpen(t *testing.T) {
	old := DevelopmentKeyRing()
	sealed, err := old.Seal([]byte("whsec_abc"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("whsec_abc")) {
		t.Fatal("the sealed secret holds the secret in clear")
	}
	rotated, err := ParseKeyRing("k2:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KeySize)) + "," + DevelopmentKeyRingSpec())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed); err != nil || string(got) != "whsec_abc" {
		t.Fatalf("rotated ring opened %q, %v", got, err)
	}
	resealed, _ := rotated.Seal([]byte("whsec_abc"))
	if _, err := old.Open(resealed); err == nil || !strings.Contains(err.Error(), "k2") {
		t.Errorf("a ring without k2 opened its secret: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := old.Open(sealed); err == nil {
		t.Error("a tampered secret opened")
	}
	if _, err := (KeyRing{}).Seal([]byte("x")); err == nil {
		t.Error("the empty ring sealed")
	}
}
