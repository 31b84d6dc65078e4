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
	switch {
	case args[0] == "add" && len(args) >= 2:
		key := newRepKey()
		r, err := db.AddRep(ctx, strings.Join(args[1:], " "), key)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rep %q added (%s). Their key, shown this once:\n%s\n", r.Name, r.KeyID, key)
		return nil
	case args[0] == "disable" && len(args) == 2:
		r, err := db.DisableRep(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rep %q (%s) disabled: their key and sessions no longer work\n", r.Name, r.KeyID)
		return nil
	case args[0] == "list" && len(args) == 1:
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
