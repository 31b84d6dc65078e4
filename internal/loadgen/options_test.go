package loadgen

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/config"
)

var testConfig = config.Config{
	DatabaseURL:       "postgres://postgres@127.0.0.1:5432/payportal?sslmode=disable",
	TemporalAddress:   "127.0.0.1:7233",
	TemporalNamespace: "default",
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := ParseFlags(nil, testConfig, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Base != "http://127.0.0.1:8080" || o.Database != testConfig.DatabaseURL || o.Temporal != "127.0.0.1:7233" || o.Namespace != "default" {
		t.Errorf("addresses: %+v", o)
	}
	if o.Customers != 5 || o.Accounts != 5 || o.Duration != 20*time.Second || o.Warmup != time.Second || o.Count != 0 || o.Rounds != 4 {
		t.Errorf("sizes: customers %d, accounts %d (one each), duration %v, warm-up %v, count %d, rounds %d",
			o.Customers, o.Accounts, o.Duration, o.Warmup, o.Count, o.Rounds)
	}
	if o.rounds() != 4 {
		t.Errorf("rounds() = %d, want 4 with ceilings to interleave", o.rounds())
	}
	if !slices.Equal(o.Mix, allKinds) || !o.Ceilings || o.CeilingActivities != CardSagaActivities || !o.CeilingLocal || o.Poll != 20*time.Millisecond {
		t.Errorf("mix %v, ceilings %v (%d activities, local %v), poll %v", o.Mix, o.Ceilings, o.CeilingActivities, o.CeilingLocal, o.Poll)
	}
	if got := o.name(KindActivityWorkflow); got != "workflow, 3 no-op local activities" {
		t.Errorf("the second ceiling is called %q", got)
	}
}

func TestParseFlagsSettings(t *testing.T) {
	o, err := ParseFlags(strings.Fields("-base http://127.0.0.1:18481 -database postgres://x/payportal_loadgen -temporal 127.0.0.1:17998 "+
		"-customers 20 -accounts 1 -count 500 -mix card,reads,card -ceilings=false -cpu api=12,worker=34"), testConfig, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Base != "http://127.0.0.1:18481" || o.Temporal != "127.0.0.1:17998" || o.Customers != 20 || o.Accounts != 1 || o.Count != 500 || o.Ceilings {
		t.Errorf("parsed: %+v", o)
	}
	if want := []Kind{KindCard, KindSummary, KindInvoices, KindPDF}; !slices.Equal(o.Mix, want) {
		t.Errorf("mix = %v, want %v (groups expanded, each kind once, in order)", o.Mix, want)
	}
	if o.CPU["api"] != 12 || o.CPU["worker"] != 34 || len(o.CPU) != 2 {
		t.Errorf("cpu = %v", o.CPU)
	}
	if o.rounds() != 1 {
		t.Errorf("rounds() = %d with a count and no ceilings, want 1", o.rounds())
	}
}

func TestParseFlagsRefusals(t *testing.T) {
	for _, args := range []string{
		"-mix cards",
		"-mix card,",
		"-customers 0",
		"-accounts -1",
		"-duration 0",
		"-rounds 0",
		"-duration 200ms -rounds 4",
		"-count -1",
		"-base 127.0.0.1:8080",
		"-base ftp://x",
		"-poll 0",
		"-cpu api",
		"-cpu api=x",
		"-invoices 0",
		"extra",
	} {
		if _, err := ParseFlags(strings.Fields(args), testConfig, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	if _, err := ParseFlags([]string{"-duration", "0", "-count", "10"}, testConfig, io.Discard); err != nil {
		t.Errorf("a count needs no duration: %v", err)
	}
	if _, err := ParseFlags([]string{"-h"}, testConfig, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestParseMixGroups(t *testing.T) {
	for in, want := range map[string][]Kind{
		"payments":       {KindCard, KindPayPal},
		"reads":          {KindSummary, KindInvoices, KindPDF},
		"add-card, card": {KindAddCard, KindCard},
		"all":            allKinds,
	} {
		got, err := parseMix(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseMix(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestCheckDevelopment(t *testing.T) {
	dev := config.Config{Env: config.EnvDevelopment}
	prod := config.Config{Env: config.EnvProduction}
	if err := checkDevelopment(dev, "postgres://x/payportal"); err != nil {
		t.Errorf("development: %v", err)
	}
	for _, db := range []string{"payportal_bench", "payportal_loadgen", "payportal_loadgen_2", "payportal_test_abc123"} {
		if err := checkDevelopment(prod, "postgres://x/"+db+"?sslmode=disable"); err != nil {
			t.Errorf("throwaway %s: %v", db, err)
		}
	}
	err := checkDevelopment(prod, "postgres://x/payportal?sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), "PAYPORTAL_ENV=development") {
		t.Errorf("production database: %v, want a refusal that says how to proceed", err)
	}
}
