package roles

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// temporalReportEvery is how often the SDK's counts reach the registry.
const temporalReportEvery = time.Second

// TemporalMetrics is the Temporal SDK's own metrics — requests and their
// failures and latency, workflow and activity task latencies, pollers,
// the sticky cache, long-poll errors — as temporal_* in reg (Prometheus
// names: counters end in _total, timers are histograms in _seconds), the
// way Temporal documents it: the SDK's tally handler over tally's Prometheus
// reporter. It is the handler of every Temporal client of a process: a
// second handler on the same registry would clash with the first's metrics.
// Close stops its reporting loop once the clients are closed.
//
// tally registers a metric on its first use; the few the SDK records with
// more than one set of tags keep the first set, and the clash is logged at
// debug on log.
func TemporalMetrics(reg prometheus.Registerer, log *slog.Logger) (client.MetricsHandler, io.Closer) {
	if log == nil {
		log = slog.Default()
	}
	var once sync.Map // error text -> logged
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       reg,
		DefaultTimerType: tallyprom.HistogramTimerType,
		// 1 ms to about 65 s: Temporal's request and task latencies.
		DefaultHistogramBuckets: prometheus.ExponentialBuckets(0.001, 2, 17),
		OnRegisterError: func(err error) {
			if _, seen := once.LoadOrStore(err.Error(), true); !seen {
				log.Debug("temporal SDK metric not registered", "err", err)
			}
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, temporalReportEvery)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
