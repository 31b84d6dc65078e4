package main

import (
	"context"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/config"
)

// TestMigrateDemoRefusesOutsideDevelopment: the demo accounts and keys are seeded only with
// PAYPORTAL_ENV=development; elsewhere the command stops before touching the database.
func TestMigrateDemoRefusesOutsideDevelopment(t *testing.T) {
	cfg := config.Config{Env: config.EnvProduction, DatabaseURL: "postgres://nobody@127.0.0.1:1/none?sslmode=disable"}
	err := runMigrateCommand(context.Background(), cfg, []string{"--demo"})
	if err == nil || !strings.Contains(err.Error(), "PAYPORTAL_ENV=development") || !strings.Contains(err.Error(), "drop --demo") {
		t.Errorf("migrate --demo in production: %v, want a refusal naming PAYPORTAL_ENV=development", err)
	}
}
