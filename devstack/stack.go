package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/gen"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/killstate"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/workers"
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
	// Log is the parent logger. Default slog.Default().
	Log *slog.Logger
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
	makers       map[string]func() (func(context.Context) error, error)
	failed       chan error
	baseCtx      context.Context
	cancelAll    context.CancelFunc
	closeOnce    sync.Once
	infraClosers []func()
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start brings up Kafka, topics, the Temporal dev server and every
// component, and returns once they are all running.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
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
	s = &Stack{opts: o, log: o.Log, running: map[string]*running{}, failed: make(chan error, 16)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	kdir, tdb, tlogFile := "", "", ""
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		kdir = filepath.Join(o.DataDir, "kafka")
		tdb = filepath.Join(o.DataDir, "temporal.db")
		tlogFile = filepath.Join(o.DataDir, "temporal.log")
	}
	s.Token = o.Token
	if s.Token == "" {
		s.Token = api.NewToken()
	}

	s.Kafka, err = StartKafka(KafkaConfig{Port: o.KafkaPort, DataDir: kdir, Partitions: o.Partitions})
	if err != nil {
		return nil, err
	}
	s.infraClosers = append(s.infraClosers, s.Kafka.Close)
	s.Brokers = s.Kafka.ListenAddrs()
	s.KafkaConfig = func(id string) kafka.Config { return kafka.Config{Brokers: s.Brokers, ClientID: id} }
	adm, err := s.KafkaConfig("riskgate-dev").NewClient()
	if err != nil {
		return nil, err
	}
	_, err = kafka.CreateTopics(ctx, kadm.NewClient(adm), kafka.Topics(o.Partitions))
	adm.Close()
	if err != nil {
		return nil, err
	}

	s.Temporal, err = StartTemporal(ctx, TemporalConfig{
		Bin: o.TemporalBin, Port: o.TemporalPort, UIPort: o.UIPort, Headless: o.Headless,
		DBFile: tdb, Namespace: o.Namespace, LogFile: tlogFile, Log: o.Log,
	})
	if err != nil {
		return nil, err
	}
	s.infraClosers = append(s.infraClosers, func() {
		if err := s.Temporal.Stop(); err != nil {
			s.log.Warn("stop Temporal dev server", "err", err)
		}
	})
	s.Client, err = client.Dial(client.Options{
		HostPort: s.Temporal.Addr, Namespace: o.Namespace,
		Logger: tlog.NewStructuredLogger(o.Log.With("component", "temporal-client")),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", s.Temporal.Addr, err)
	}
	s.infraClosers = append(s.infraClosers, s.Client.Close)

	s.Registry = prometheus.NewRegistry()
	s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	s.States = killstate.NewTable(nil)
	follower := killstate.NewFollower(s.KafkaConfig("riskgate-api"), s.States, s.logger(API))
	s.StateReady = follower.Ready
	tokens, err := api.DevTokens(s.Token)
	if err != nil {
		return nil, err
	}
	indexDir := o.DataDir
	if indexDir == "" {
		if indexDir, err = os.MkdirTemp("", "riskgate-index"); err != nil {
			return nil, err
		}
		s.infraClosers = append(s.infraClosers, func() { os.RemoveAll(indexDir) })
	}
	if s.Index, err = index.OpenDir(indexDir); err != nil {
		return nil, err
	}
	s.infraClosers = append(s.infraClosers, func() { s.Index.Close() })
	srv, err := api.New(api.Config{
		Temporal: s.Client, Namespace: o.Namespace, States: s.States, StateReady: follower.Ready,
		Index: s.Index, Tokens: tokens, Log: s.logger(API), Registerer: s.Registry, Gatherer: s.Registry,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("API listen on %s: %w", o.APIAddr, err)
	}
	s.APIURL = "http://" + ln.Addr().String()

	// A component restarted in the same process (Stop, then Start) replaces
	// its predecessor's metrics instead of clashing with them.
	s.makers = map[string]func() (func(context.Context) error, error){
		Worker: func() (func(context.Context) error, error) {
			cfg := workers.Config{Kafka: s.KafkaConfig("riskgate-worker"), Cooldown: o.Cooldown, Log: s.logger(Worker)}
			return func(ctx context.Context) error { return workers.Run(ctx, s.Client, cfg) }, nil
		},
		Router: func() (func(context.Context) error, error) {
			rt, err := router.New(router.Config{Kafka: s.KafkaConfig("riskgate-router"), Log: s.logger(Router), Registerer: &replacingRegisterer{reg: s.Registry}})
			if err != nil {
				return nil, err
			}
			return rt.Run, nil
		},
		Detector: func() (func(context.Context) error, error) {
			cfg := o.Detector
			cfg.Kafka = s.KafkaConfig("riskgate-detector")
			cfg.Signaler = detector.TemporalSignaler{Client: s.Client}
			cfg.Log = s.logger(Detector)
			cfg.Registerer = &replacingRegisterer{reg: s.Registry}
			d, err := detector.New(cfg)
			if err != nil {
				return nil, err
			}
			return d.Run, nil
		},
		Indexer: func() (func(context.Context) error, error) {
			x, err := index.NewIndexer(index.IndexerConfig{
				Kafka: s.KafkaConfig("riskgate-indexer"), Index: s.Index,
				Log: s.logger(Indexer), Registerer: &replacingRegisterer{reg: s.Registry},
			})
			if err != nil {
				return nil, err
			}
			return x.Run, nil
		},
		API: func() (func(context.Context) error, error) {
			return func(ctx context.Context) error {
				var wg sync.WaitGroup
				var ferr error
				fctx, cancel := context.WithCancel(ctx)
				wg.Go(func() { ferr = follower.Run(fctx) })
				err := srv.Serve(ctx, ln)
				cancel()
				wg.Wait()
				return errors.Join(err, ferr)
			}, nil
		},
		Gen: func() (func(context.Context) error, error) {
			return func(ctx context.Context) error {
				cl, err := s.KafkaConfig("riskgate-gen").NewClient(kgo.ProducerLinger(5 * time.Millisecond))
				if err != nil {
					return err
				}
				defer cl.Close()
				_, err = gen.Run(ctx, cl, gen.Config{Mode: gen.Normal})
				return err
			}, nil
		},
	}
	s.baseCtx, s.cancelAll = context.WithCancel(context.WithoutCancel(ctx))
	names := []string{Worker, Router, Detector, Indexer, API}
	if o.Gen {
		names = append(names, Gen)
	}
	for _, n := range names {
		if err := s.StartComponent(n); err != nil {
			return nil, err
		}
	}
	return s, nil
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

// StartComponent starts a component that is not running.
func (s *Stack) StartComponent(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[name]; ok {
		return fmt.Errorf("%s is already running", name)
	}
	mk, ok := s.makers[name]
	if !ok {
		return fmt.Errorf("unknown component %q", name)
	}
	run, err := mk()
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(s.baseCtx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.running[name] = r
	go func() {
		defer close(r.done)
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		select {
		case s.failed <- fmt.Errorf("%s: %w", name, err):
		default:
		}
	}()
	return nil
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
	case <-time.After(20 * time.Second):
		return fmt.Errorf("%s did not stop within 20 s", name)
	}
}

// Failed receives a component's error when one stops on its own.
func (s *Stack) Failed() <-chan error { return s.failed }

// Close stops every component, then Temporal, then Kafka.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		names := make([]string, 0, len(s.running))
		for n := range s.running {
			names = append(names, n)
		}
		s.mu.Unlock()
		for _, n := range names {
			if err := s.StopComponent(n); err != nil {
				s.log.Warn("stop component", "component", n, "err", err)
			}
		}
		if s.cancelAll != nil {
			s.cancelAll()
		}
		for i := len(s.infraClosers) - 1; i >= 0; i-- {
			s.infraClosers[i]()
		}
	})
}

// ReadToken returns $RISKGATE_DEV_TOKEN, else the token kept in
// <dir>/dev-token, else a new one; it writes the result to <dir>/dev-token.
func ReadToken(dir string) (string, error) {
	path := filepath.Join(dir, "dev-token")
	token := os.Getenv("RISKGATE_DEV_TOKEN")
	if token == "" {
		if b, err := os.ReadFile(path); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		token = api.NewToken()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev token: %w", err)
	}
	return token, nil
}
