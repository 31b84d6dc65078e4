package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/postgres"
)

const repUsage = `usage: payportal rep add NAME        make a rep and print their key (once: only its digest is kept)
       payportal rep disable NAME|ID   revoke the rep's key and end their console sessions, at once
       payportal rep list              list the reps`

// runRep manages the account reps: each is a name with its own key.
func runRep(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(repUsage)
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	cmd, rest := args[0], args[1:]
	switch {
	case cmd == "add" && len(rest) >= 1:
		key := newRepKey()
		r, err := db.AddRep(ctx, strings.Join(rest, " "), key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rep %q added (%s). Their key, shown this once:\n%s\n", r.Name, r.KeyID, key)
		return nil
	case cmd == "disable" && len(rest) == 1:
		r, err := db.DisableRep(ctx, rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rep %q (%s) disabled: their key and sessions no longer work\n", r.Name, r.KeyID)
		return nil
	case cmd == "list" && len(rest) == 0:
		reps, err := db.Reps(ctx)
		if err != nil {
			return err
		}
		for _, r := range reps {
			state := "active"
			if r.DisabledAt != nil {
				state = "disabled " + r.DisabledAt.UTC().Format("2006-01-02")
			}
			fmt.Fprintf(out, "%s\t%s\t%s\n", r.KeyID, r.Name, state)
		}
		return nil
	}
	return errors.New(repUsage)
}

// newRepKey is 32 random bytes, hex: unguessable, and printable in a shell.
func newRepKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "rk_" + hex.EncodeToString(b[:])
}
