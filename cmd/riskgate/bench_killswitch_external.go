package main

// riskgate bench killswitch --external: the same measurement against roles
// already running elsewhere (the production harness, a staging cluster),
// reached through the global --brokers; the detectors' breach count comes
// from their /metrics when --detector-metrics names them.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

func addExternalFlags(f *pflag.FlagSet, o *benchKSOptions) {
	f.BoolVar(&o.external, "external", false, "measure the roles running at --brokers instead of an embedded stack: their detectors need an account count rule at --threshold alone, and a cooldown longer than the run")
	f.StringSliceVar(&o.detectorMetrics, "detector-metrics", nil, "with --external: the detectors' /metrics URLs, to time the breach signals too")
}

func benchKillSwitchExternal(ctx context.Context, out io.Writer, o benchKSOptions) error {
	// Accounts of their own, so that a second run against the same stack
	// does not meet the kills of the first.
	o.tag = strconv.FormatInt(time.Now().Unix()%1_000_000, 36)
	fmt.Fprintf(out, "measuring the roles at %s (accounts BK%s…, BM%s…)\n", g.brokers, o.tag, o.tag)
	t := ksTarget{kafka: kafkaConfig}
	if len(o.detectorMetrics) > 0 {
		if _, err := scrapeBreaches(ctx, o.detectorMetrics); err != nil {
			return fmt.Errorf("bench killswitch: %w", err)
		}
		t.breaches = func() int {
			n, _ := scrapeBreaches(ctx, o.detectorMetrics)
			return n
		}
	}
	// The runs' histories and the floor need Temporal; without it the
	// measurement goes on with the Kafka side alone.
	tc, closeTemporal, err := temporalClient(slog.New(slog.DiscardHandler), nil)
	if err != nil {
		fmt.Fprintf(out, "no Temporal (%v): no floor, and the hops inside Temporal are left out\n", err)
	} else {
		defer closeTemporal()
		t.temporal = tc
	}
	return measureKillSwitch(ctx, out, o, t)
}

// scrapeBreaches sums riskgate_detector_signal_duration_seconds_count{kind="breach"}
// over the detectors' /metrics (Prometheus text format).
func scrapeBreaches(ctx context.Context, urls []string) (int, error) {
	total := 0
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, fmt.Errorf("detector metrics %s: %w", u, err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: %w", u, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("scrape %s: %s %v", u, resp.Status, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "riskgate_detector_signal_duration_seconds_count{") || !strings.Contains(line, `kind="breach"`) {
				continue
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				return 0, fmt.Errorf("scrape %s: %q: %w", u, line, err)
			}
			total += int(v)
		}
	}
	return total, nil
}
