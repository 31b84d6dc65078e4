package testenv

import (
	"io"
	"log/slog"

	tlog "go.temporal.io/sdk/log"
)

// NopTemporalLogger keeps the SDK quiet in tests.
func NopTemporalLogger() tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
