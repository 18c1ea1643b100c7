package main

import (
	"log/slog"

	"go.temporal.io/sdk/log"
)

// newTemporalLogger adapts slog to the Temporal SDK's logger, one level
// quieter: the SDK is chatty at info.
func newTemporalLogger(l *slog.Logger) log.Logger {
	return log.NewStructuredLogger(l.With("subsystem", "temporal"))
}
