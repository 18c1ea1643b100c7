// How riskgate's Kafka clients report on themselves: franz-go's client
// metrics (plugin/kprom) in the role's Prometheus registry, and the client's
// own log lines (plugin/kslog) in the role's slog logger.

package kafka

import (
	"log/slog"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ClientMetrics puts the metrics of every Kafka client built with it into
// one Prometheus registry, as riskgate_kafka_* labelled by client_id: bytes,
// batches and records produced and fetched per broker and topic, connects,
// disconnects, read and write errors, and what the client has buffered.
//
// kprom registers one client's metrics and unregisters them when the client
// closes, so two clients open at once need different labels: a process
// opens several clients under one id (the router's group client, its state
// follower, its changelog replay), and the second open one under an id is
// labelled "<id>-2", the third "<id>-3". A closed client frees its label for
// the next, so the series stay as few as the clients open at once.
//
// One ClientMetrics serves one registry; make it once per process (or per
// registry) and give it to every Config.
type ClientMetrics struct {
	reg prometheus.Registerer
	log *slog.Logger

	mu   sync.Mutex
	live map[string]bool
}

// NewClientMetrics returns the client metrics of reg. log hears a metric
// that could not be registered (the client runs on without it); nil is
// slog.Default().
func NewClientMetrics(reg prometheus.Registerer, log *slog.Logger) *ClientMetrics {
	if log == nil {
		log = slog.Default()
	}
	return &ClientMetrics{reg: reg, log: log, live: map[string]bool{}}
}

// hooks returns the hooks that count one new client named id, and a release
// for when the client could not be built.
func (m *ClientMetrics) hooks(id string) (kgo.Opt, func()) {
	label := m.claim(id)
	km := kprom.NewMetrics("riskgate",
		kprom.Subsystem("kafka"),
		kprom.Registerer(lenientRegisterer{m.reg, m.log}),
		kprom.WithStaticLabel(prometheus.Labels{"client_id": label}),
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.Batches,
			kprom.CompressedBytes, kprom.UncompressedBytes, kprom.ConsistentNaming),
	)
	release := func() { m.release(label) }
	// kprom's OnClientClosed unregisters first; only then is the label free.
	return kgo.WithHooks(km, closedHook(release)), release
}

// claim returns id, or id with the smallest suffix no open client has.
func (m *ClientMetrics) claim(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	label := id
	for n := 2; m.live[label]; n++ {
		label = id + "-" + strconv.Itoa(n)
	}
	m.live[label] = true
	return label
}

func (m *ClientMetrics) release(label string) {
	m.mu.Lock()
	delete(m.live, label)
	m.mu.Unlock()
}

// closedHook runs a function when its client has closed.
type closedHook func()

func (h closedHook) OnClientClosed(*kgo.Client) { h() }

// lenientRegisterer registers like its registry but never panics: kprom
// registers through promauto, and a metric that cannot be registered must
// not take the Kafka client (and the role) down with it.
type lenientRegisterer struct {
	prometheus.Registerer
	log *slog.Logger
}

func (r lenientRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			r.log.Warn("kafka client metric not registered; the client runs on without it", "err", err)
		}
	}
}

// clientLog is the Kafka client's logger: franz-go's own lines through
// kslog into the role's slog logger, at the role's level, so rebalances,
// transaction aborts, fenced producers and authentication failures show
// where everything else does. The few info lines a transactional producer
// writes for every committed transaction go to debug: a router commits
// several transactions a second, and they would drown the rest. An abort
// stays at info.
type clientLog struct {
	*kslog.Logger
}

func newClientLog(l *slog.Logger, id string) clientLog {
	return clientLog{kslog.New(l.With("subsystem", "kafka", "client_id", id))}
}

// perTransaction are franz-go's info lines of every transaction (franz-go
// v1.22: pkg/kgo/txn.go and producer.go). One whose text changes in a later
// franz-go logs at info again; nothing is lost.
var perTransaction = map[string]bool{
	"beginning transaction":                          true,
	"flushing":                                       true,
	"issuing AddOffsetsToTxn":                        true,
	"transaction session ending":                     true,
	"ending transaction":                             true,
	"end transaction response successfully received": true,
	"transact session successful, setting to newly committed state":              true,
	"transact session in on_revoke with nothing to revoke; allowing next commit": true,
}

func (l clientLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level == kgo.LogLevelInfo && perTransaction[msg] && !aborts(keyvals) {
		level = kgo.LogLevelDebug
	}
	l.Logger.Log(level, msg, keyvals...)
}

// aborts reports whether a transaction line says the transaction ends in an
// abort (commit=false or will_try_commit=false).
func aborts(keyvals []any) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		switch keyvals[i] {
		case "commit", "will_try_commit":
			if b, ok := keyvals[i+1].(bool); ok && !b {
				return true
			}
		}
	}
	return false
}

// observe returns the options that report one client named id, and what to
// undo if the client is not built.
func (c Config) observe(id string) ([]kgo.Opt, func()) {
	var opts []kgo.Opt
	release := func() {}
	if c.Log != nil {
		opts = append(opts, kgo.WithLogger(newClientLog(c.Log, id)))
	}
	if c.Metrics != nil {
		var hook kgo.Opt
		hook, release = c.Metrics.hooks(id)
		opts = append(opts, hook)
	}
	return opts, release
}
