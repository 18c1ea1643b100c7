package main

import (
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWriteIncidentsCSV(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 30, 0, 123456789, time.UTC)
	produced := map[string]time.Time{"BK1": t0, "BK2": t0.Add(time.Second)}
	read := func(a string) time.Time { return produced[a].Add(12300 * time.Microsecond) }
	hops := []incidentHops{
		{ok: true, d: [6]time.Duration{100 * time.Microsecond, 3 * time.Millisecond, 0, 2 * time.Millisecond, 6 * time.Millisecond, 1200 * time.Microsecond}},
		{ok: false}, // its run's history could not be read
	}
	path := filepath.Join(t.TempDir(), "incidents.csv")
	if err := writeIncidentsCSV(path, []string{"BK1", "BK2"}, produced, read, hops); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"account", "produced_at", "detect_ms", "deliver_ms", "task_ms", "publish_ms", "route_ms", "audit_ms", "end_to_end_ms"},
		{"BK1", "2026-12-03T09:30:00.123456789Z", "0.1", "3.0", "0.0", "2.0", "6.0", "1.2", "12.3"},
		{"BK2", "2026-12-03T09:30:01.123456789Z", "", "", "", "", "", "", "12.3"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
}

func TestWriteIncidentsCSVUnwritable(t *testing.T) {
	err := writeIncidentsCSV(filepath.Join(t.TempDir(), "missing", "x.csv"), nil, nil, nil, nil)
	if err == nil {
		t.Fatal("want an error for a file in a missing directory")
	}
}

// Bad timing flags are refused before any stack starts.
func TestBenchKillSwitchRefusesBadTiming(t *testing.T) {
	for _, tc := range []struct {
		o    benchKSOptions
		want string
	}{
		{benchKSOptions{probeEvery: 0, gap: time.Millisecond}, "--probe-every must be positive"},
		{benchKSOptions{probeEvery: -time.Millisecond}, "--probe-every must be positive"},
		{benchKSOptions{probeEvery: time.Millisecond, gap: -time.Second}, "--gap must not be negative"},
	} {
		err := benchKillSwitch(t.Context(), io.Discard, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error naming %q", tc.o, err, tc.want)
		}
	}
}
