package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/gen"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workers"
	"github.com/riskgate/riskgate/workflows"
)

// Component names, for Stop and Start.
const (
	Worker   = "worker"
	Router   = "router"
	Detector = "detector"
	Indexer  = "indexer"
	API      = "api"
	Gen      = "gen"
)

// Options configures an embedded stack. The zero value is an in-memory
// stack on free ports with a headless Temporal, as tests want it.
type Options struct {
	// DataDir persists Kafka, Temporal and the token; empty is in-memory.
	DataDir string
	// KafkaPort, TemporalPort and UIPort: 0 picks free ports.
	KafkaPort, TemporalPort, UIPort int
	// Headless runs Temporal without its Web UI.
	Headless bool
	// APIAddr is the API's listen address. Default 127.0.0.1:0.
	APIAddr string
	// Token is the dev operator token (admin). Default: generated.
	Token string
	// Tokens are more API tokens besides Token (riskgate dev --tokens), so
	// four-eyes flows can be walked through with a second operator.
	Tokens []api.TokenEntry
	// IdentityKeys sign (API) and verify (worker) operator identities.
	// Default: the key in <DataDir>/identity-key, generated there if
	// absent; a new one in memory without a DataDir.
	IdentityKeys workflows.IdentityKeys
	// Cooldown of detector kills. Default: the worker's default (5 min).
	Cooldown time.Duration
	// TemporalBin is the temporal CLI. Default FindTemporalBinary.
	TemporalBin string
	// Partitions of each keyed topic. Default 3.
	Partitions int32
	// Namespace is the Temporal namespace. Default "default".
	Namespace string
	// Gen starts normal demo traffic.
	Gen bool
	// Detector customises the detector; Kafka, Signaler, Log and
	// Registerer are filled in by the stack.
	Detector detector.Config
	// Compression is the codec of every record the stack's components
	// write. Default kafka.DefaultCompression.
	Compression kafka.Compression
	// OrderBounds are the largest qty and price of an order, the same for
	// router and detector. Zero fields: domain's defaults.
	OrderBounds domain.OrderBounds
	// Limits are the pre-trade limits (deploy/limits.yaml) of the router
	// and of the worker's Limits workflows; nil means limits.Default().
	Limits *limits.Config
	// Log is the parent logger. Default slog.Default().
	Log *slog.Logger
	// OnTemporalChange, if set, hears the Temporal dev server going down
	// and coming back (see TemporalConfig.OnChange).
	OnTemporalChange func(up bool, detail string)
}

// Stack is a running embedded riskgate: infrastructure plus components.
type Stack struct {
	Brokers    []string
	Kafka      *kfake.Cluster
	Temporal   *Temporal
	Client     client.Client
	APIURL     string
	Token      string
	States     *killstate.Table
	StateReady func() bool
	// Index is the audit index (SQLite under the data dir, or a temporary
	// directory for an in-memory stack).
	Index        *index.SQLite
	Registry     *prometheus.Registry
	KafkaConfig  func(clientID string) kafka.Config
	opts         Options
	log          *slog.Logger
	mu           sync.Mutex
	running      map[string]*running
	makers       map[string]func() (roles.Unit, error)
	failed       chan error
	closed       bool      // under mu: Close has begun, no component starts
	closing      time.Time // when Close began
	closeOnce    sync.Once
	infraClosers []func()

	// IdentityKeys are the operator identity keys the API and worker share.
	IdentityKeys workflows.IdentityKeys
}

// running is one supervised component.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	unit   atomic.Pointer[roles.Unit] // the current incarnation
}

// Start brings up Kafka, topics, the Temporal dev server and every
// component, and returns once they are all running. On an error everything
// it started is stopped again.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.APIAddr == "" {
		o.APIAddr = "127.0.0.1:0"
	}
	s := &Stack{opts: o, log: o.Log, running: map[string]*running{}, failed: make(chan error, 16)}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context) error {
	o := s.opts
	kdir, tdb, tlogFile := "", "", ""
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		kdir = filepath.Join(o.DataDir, "kafka")
		tdb = filepath.Join(o.DataDir, "temporal.db")
		tlogFile = filepath.Join(o.DataDir, "temporal.log")
	}
	s.Token = o.Token
	if s.Token == "" {
		s.Token = api.NewToken()
	}
	tokens, err := api.DevTokens(s.Token, o.Tokens...)
	if err != nil {
		return err
	}
	if s.IdentityKeys = o.IdentityKeys; len(s.IdentityKeys) == 0 {
		if s.IdentityKeys, err = readIdentityKey(o.DataDir); err != nil {
			return err
		}
	}
	signer, err := workflows.NewIdentitySigner(s.IdentityKeys)
	if err != nil {
		return err
	}
	if err := checkPorts(o); err != nil {
		return err
	}

	if s.Kafka, err = StartKafka(KafkaConfig{Port: o.KafkaPort, DataDir: kdir, Partitions: o.Partitions}); err != nil {
		return err
	}
	s.infraClosers = append(s.infraClosers, s.Kafka.Close)
	s.Brokers = s.Kafka.ListenAddrs()
	// One registry for every component: their metrics, the Kafka clients'
	// and the Temporal clients'.
	s.Registry = prometheus.NewRegistry()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), roles.BuildInfoCollector())
	kafkaLog := slog.New(atLeast{o.Log.Handler(), slog.LevelWarn})
	kafkaMetrics := kafka.NewClientMetrics(s.Registry, o.Log)
	s.KafkaConfig = func(id string) kafka.Config {
		return kafka.Config{Brokers: s.Brokers, ClientID: id, Compression: o.Compression, Metrics: kafkaMetrics, Log: kafkaLog}
	}
	adm, err := s.KafkaConfig("riskgate-dev").NewClient()
	if err != nil {
		return err
	}
	_, err = kafka.CreateTopics(ctx, kadm.NewClient(adm), kafka.Topics(o.Partitions))
	adm.Close()
	if err != nil {
		return err
	}

	s.Temporal, err = StartTemporal(ctx, TemporalConfig{
		Bin: o.TemporalBin, Port: o.TemporalPort, UIPort: o.UIPort, Headless: o.Headless,
		DBFile: tdb, Namespace: o.Namespace, LogFile: tlogFile, Log: s.logger("temporal"),
		OnChange: o.OnTemporalChange,
	})
	if err != nil {
		return err
	}
	s.infraClosers = append(s.infraClosers, func() {
		// What is left of the 14 s shutdown budget, at least 3 s.
		if err := s.Temporal.StopWithin(max(3*time.Second, 14*time.Second-time.Since(s.closing))); err != nil {
			s.log.Warn("stop Temporal dev server", "err", err)
		}
	})
	// The SDK's own metrics, of both clients, in the stack's registry;
	// stopped after the clients close (infraClosers run last first).
	temporalMetrics, stopMetrics := roles.TemporalMetrics(s.Registry, o.Log)
	s.infraClosers = append(s.infraClosers, func() { stopMetrics.Close() })
	s.Client, err = client.Dial(client.Options{
		HostPort: s.Temporal.Addr, Namespace: o.Namespace,
		Logger:         tlog.NewStructuredLogger(o.Log.With("component", "temporal-client")),
		MetricsHandler: temporalMetrics,
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", s.Temporal.Addr, err)
	}
	s.infraClosers = append(s.infraClosers, s.Client.Close)
	// The API's own client signs the operator updates it sends; nothing
	// else in the stack holds a signing client.
	apiClient, err := client.NewClientFromExistingWithContext(ctx, s.Client, client.Options{
		Namespace: o.Namespace, Logger: tlog.NewStructuredLogger(o.Log.With("component", "temporal-client")),
		Interceptors: []interceptor.ClientInterceptor{signer}, MetricsHandler: temporalMetrics,
	})
	if err != nil {
		return fmt.Errorf("connect the API to Temporal at %s: %w", s.Temporal.Addr, err)
	}
	s.infraClosers = append(s.infraClosers, apiClient.Close)

	s.States = killstate.NewTable(nil)
	indexDir := o.DataDir
	if indexDir == "" {
		if indexDir, err = os.MkdirTemp("", "riskgate-index"); err != nil {
			return err
		}
		s.infraClosers = append(s.infraClosers, func() { os.RemoveAll(indexDir) })
	}
	if s.Index, err = index.OpenDir(indexDir); err != nil {
		return err
	}
	s.infraClosers = append(s.infraClosers, func() { s.Index.Close() })

	// Every component is built by its roles constructor, as the role
	// commands build it. A component restarted in the same process replaces
	// its predecessor's metrics instead of clashing with them.
	reg := &replacingRegisterer{reg: s.Registry}
	apiAddr := o.APIAddr
	s.makers = map[string]func() (roles.Unit, error){
		Worker: func() (roles.Unit, error) {
			return roles.Worker(s.Client, workers.Config{Kafka: s.KafkaConfig("riskgate-worker"), Cooldown: o.Cooldown,
				IdentityKeys: s.IdentityKeys, Log: s.logger(Worker), Registerer: reg, Limits: o.Limits}), nil
		},
		Router: func() (roles.Unit, error) {
			return roles.Router(router.Config{Kafka: s.KafkaConfig("riskgate-router"), Log: s.logger(Router), Registerer: reg, OrderBounds: o.OrderBounds,
				Limits: o.Limits})
		},
		Detector: func() (roles.Unit, error) {
			cfg := o.Detector
			cfg.Kafka = s.KafkaConfig("riskgate-detector")
			cfg.OrderBounds = o.OrderBounds
			cfg.Signaler = workflows.Signaler{Client: s.Client}
			cfg.Log = s.logger(Detector)
			cfg.Registerer = reg
			return roles.Detector(cfg)
		},
		Indexer: func() (roles.Unit, error) {
			return roles.Indexer(index.IndexerConfig{
				Kafka: s.KafkaConfig("riskgate-indexer"), Index: s.Index, Log: s.logger(Indexer), Registerer: reg,
			})
		},
		API: func() (roles.Unit, error) {
			u, addr, err := roles.API(api.Config{
				Temporal: apiClient, Namespace: o.Namespace, States: s.States,
				Index: s.Index, Tokens: tokens, Log: s.logger(API), Registerer: reg, Gatherer: s.Registry,
				LimitsConfig: o.Limits,
			}, s.KafkaConfig("riskgate-api"), apiAddr)
			if err != nil {
				return roles.Unit{}, err
			}
			// A restart listens where the first one did.
			apiAddr = addr.String()
			s.APIURL = "http://" + apiAddr
			return u, nil
		},
		Gen: func() (roles.Unit, error) {
			return roles.Unit{Name: Gen, Ready: func() bool { return true }, Run: func(ctx context.Context) error {
				cl, err := s.KafkaConfig("riskgate-gen").NewClient(kgo.ProducerLinger(5 * time.Millisecond))
				if err != nil {
					return err
				}
				defer cl.Close()
				_, err = gen.Run(ctx, cl, gen.Config{Mode: gen.Normal})
				return err
			}}, nil
		},
	}
	s.StateReady = func() bool { return s.ready(API) }
	names := []string{Worker, Router, Detector, Indexer, API}
	if o.Gen {
		names = append(names, Gen)
	}
	for _, n := range names {
		if err := s.StartComponent(n); err != nil {
			return err
		}
	}
	return nil
}

// checkPorts refuses fixed ports that are already taken, naming the flag
// that moves each, before anything starts.
func checkPorts(o Options) error {
	ports := []struct {
		port int
		what string
	}{
		{o.KafkaPort, "Kafka (--kafka-port)"},
		{o.TemporalPort, "Temporal (--temporal-port)"},
	}
	if !o.Headless {
		ports = append(ports, struct {
			port int
			what string
		}{o.UIPort, "the Temporal Web UI (--ui-port)"})
	}
	for _, p := range ports {
		if p.port == 0 {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
		if err != nil {
			return fmt.Errorf("port %d for %s is in use: %w", p.port, p.what, err)
		}
		ln.Close()
	}
	return nil
}

func (s *Stack) logger(name string) *slog.Logger { return s.log.With("component", name) }

// replacingRegisterer unregisters a collector that is already registered
// before registering its replacement, so a restarted component's metrics
// replace its predecessor's.
type replacingRegisterer struct{ reg prometheus.Registerer }

func (r *replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.reg.Unregister(are.ExistingCollector)
		return r.reg.Register(c)
	}
	return err
}

func (r *replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *replacingRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// StartComponent builds a component that is not running and runs it under
// a supervisor: when it stops on its own, its error is logged (and sent to
// Failed) and it is built and started again with backoff.
func (s *Stack) StartComponent(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("start %s: the stack is closing", name)
	}
	if _, ok := s.running[name]; ok {
		return fmt.Errorf("%s is already running", name)
	}
	mk, ok := s.makers[name]
	if !ok {
		return fmt.Errorf("unknown component %q", name)
	}
	first, err := mk()
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	// A component lives until StopComponent or Close cancels it, not as
	// long as whatever context started the stack.
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.running[name] = r
	sup := roles.Supervisor{
		Make:    mk,
		OnStart: func(u roles.Unit) { r.unit.Store(&u) },
		OnFailure: func(err error) {
			select {
			case s.failed <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		},
		Log: s.logger(name),
	}
	go func() {
		defer close(r.done)
		sup.Run(ctx, first)
	}()
	return nil
}

// ready reports whether a component is running and ready.
func (s *Stack) ready(name string) bool {
	s.mu.Lock()
	r, ok := s.running[name]
	s.mu.Unlock()
	if !ok {
		return false
	}
	u := r.unit.Load()
	return u != nil && u.Ready != nil && u.Ready()
}

// StopComponent stops a running component and waits for it.
func (s *Stack) StopComponent(name string) error {
	s.mu.Lock()
	r, ok := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s is not running", name)
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-time.After(componentStop):
		return fmt.Errorf("%s did not stop within %s", name, componentStop)
	}
}

// componentStop bounds how long Close waits for the components, so that
// with Temporal's own bound a shutdown ends within 15 s in every state.
const componentStop = 7 * time.Second

// Failed receives a component's error each time one stops on its own (it
// is restarted).
func (s *Stack) Failed() <-chan error { return s.failed }

// Close stops every component at once, then Temporal, then Kafka. It is
// safe on a partly started stack and ends within about 15 s.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		s.closing = time.Now()
		s.mu.Lock()
		all := s.running
		s.running = map[string]*running{}
		s.closed = true
		s.mu.Unlock()
		for _, r := range all {
			r.cancel()
		}
		bound, stop := context.WithTimeout(context.Background(), componentStop)
		defer stop()
		for name, r := range all {
			select {
			case <-r.done:
			case <-bound.Done():
				s.log.Warn("component did not stop in time; going on with shutdown", "component", name, "bound", componentStop)
			}
		}
		for i := len(s.infraClosers) - 1; i >= 0; i-- {
			s.infraClosers[i]()
		}
	})
}

// readIdentityKey returns the operator identity key kept in
// <dir>/identity-key, writing a new one there if there is none; without a
// dir, a new key.
func readIdentityKey(dir string) (workflows.IdentityKeys, error) {
	if dir == "" {
		return workflows.ParseIdentityKeys([]byte(workflows.NewIdentityKey()))
	}
	path := filepath.Join(dir, "identity-key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = []byte(workflows.NewIdentityKey() + "\n")
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("dev identity key: %w", err)
	}
	keys, err := workflows.ParseIdentityKeys(b)
	if err != nil {
		return nil, fmt.Errorf("dev identity key %s: %w", path, err)
	}
	return keys, nil
}

// ReadToken returns $RISKGATE_DEV_TOKEN, else the token kept in
// <dir>/dev-token, else a new one; it writes the result to <dir>/dev-token.
// A token too short to be safe is refused before anything is written.
func ReadToken(dir string) (string, error) {
	path := filepath.Join(dir, "dev-token")
	token, source := os.Getenv("RISKGATE_DEV_TOKEN"), "RISKGATE_DEV_TOKEN"
	if token == "" {
		if b, err := os.ReadFile(path); err == nil {
			token, source = strings.TrimSpace(string(b)), path
		}
	}
	if token == "" {
		token, source = api.NewToken(), ""
	}
	if _, err := api.DevTokens(token); err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev token: %w", err)
	}
	return token, nil
}
