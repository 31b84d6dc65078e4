// Package devserver finds and runs the Temporal CLI's dev server, pinned by the project's
// tools module (tools/go.mod), for `payportal dev`, CI and the integration tests.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// cliPackage is the pinned CLI; tools/go.mod fixes its version.
const cliPackage = "github.com/temporalio/cli/cmd/temporal"

// FindCLI returns a runnable temporal binary: the path in explicit, else
// $PAYPORTAL_TEMPORAL_CLI, else <repo>/.payportal/bin/temporal, else one it builds there from
// the tools module (a few minutes the first time, then cached by Go).
func FindCLI(ctx context.Context, explicit string) (string, error) {
	for _, p := range []string{explicit, os.Getenv("PAYPORTAL_TEMPORAL_CLI")} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("temporal CLI at %s: %w", p, err)
			}
			return p, nil
		}
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".payportal", "bin", "temporal")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "building the Temporal CLI from tools/go.mod into %s (a few minutes the first time)...\n", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-o", bin, cliPackage)
	cmd.Dir = filepath.Join(root, "tools")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build temporal CLI: %w", err)
	}
	return bin, nil
}

// RepoRoot walks up from the working directory to the folder holding tools/go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the PayPortal repository (no tools/go.mod above the working directory); set PAYPORTAL_TEMPORAL_CLI")
		}
		dir = parent
	}
}
