package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/testenv"
)

// TestRepAddPrintsAWorkingKeyAndDisableRevokesIt: `payportal rep add NAME` prints a key that
// authenticates as that rep; `rep disable NAME` refuses it from then on.
func TestRepAddPrintsAWorkingKeyAndDisableRevokesIt(t *testing.T) {
	ctx := context.Background()
	db, url := testenv.Database(t)
	cfg := config.Config{DatabaseURL: url}
	var out bytes.Buffer
	if err := runRep(ctx, cfg, []string{"add", "Claire", "Dubois"}, &out); err != nil {
		t.Fatalf("rep add: %v", err)
	}
	key := regexp.MustCompile(`rk_[0-9a-f]{64}`).FindString(out.String())
	if key == "" {
		t.Fatalf("rep add printed no key: %q", out.String())
	}
	caller, err := db.CallerByAPIKey(ctx, key)
	if err != nil || !caller.Rep || caller.RepName != "Claire Dubois" {
		t.Fatalf("the printed key: %+v %v, want the rep Claire Dubois", caller, err)
	}
	if err := runRep(ctx, cfg, []string{"add", "Claire Dubois"}, &out); billing.KindOf(err) != billing.KindConflict {
		t.Errorf("a second Claire Dubois: %v, want a conflict", err)
	}
	out.Reset()
	if err := runRep(ctx, cfg, []string{"disable", "Claire Dubois"}, &out); err != nil {
		t.Fatalf("rep disable: %v", err)
	}
	if _, err := db.CallerByAPIKey(ctx, key); billing.KindOf(err) != billing.KindUnauthenticated {
		t.Errorf("a disabled rep's key: %v, want unauthenticated", err)
	}
	out.Reset()
	if err := runRep(ctx, cfg, []string{"list"}, &out); err != nil || !strings.Contains(out.String(), "Claire Dubois\tdisabled") {
		t.Errorf("rep list: %q %v", out.String(), err)
	}
}
