package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/router"
	"github.com/riskgate/riskgate/workflows"
)

func init() {
	var o benchDetectorOpts
	cmd := &cobra.Command{
		Use:   "detector",
		Short: "Measure the detector: evaluation throughput and memory per key, then breach latency through Kafka",
		Long: `Two runs. First, evaluation only (no Kafka): a synthetic stream over --accounts,
--symbols and --strategies is evaluated against the default rules (every window and
dimension), on one goroutine locked to one OS thread; orders/s is orders per second of
that thread's CPU time (so other load on the machine does not count against it), and
the wall-clock rate is shown beside it. bytes_per_key is the heap the windows hold,
measured, divided by the keys.

The same orders, as orders.v1 JSON records, then go through the router's
allocation-free order decoder alone (the detector's first step per order, without
the engine), measured the same way: detector_decode_ratio is the evaluation's
orders/s divided by that decode-only rate, a figure that does not move with the
speed of the machine the way the absolute rates do.

Second, breach latency: an in-process Kafka (kfake) over TCP, a detector with a rule
that every new account breaches, and --latency-orders orders of distinct accounts
produced one by one; latency is from the detector consuming the order to the Signaler
being called.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchDetector(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.accounts, "accounts", 10_000, "distinct accounts")
	f.IntVar(&o.symbols, "symbols", 500, "distinct symbols")
	f.IntVar(&o.strategies, "strategies", 20, "distinct strategies")
	f.IntVar(&o.orders, "orders", 2_000_000, "orders evaluated")
	f.IntVar(&o.rate, "rate", 300, "event-time rate of the stream, orders per second")
	f.IntVar(&o.latencyOrders, "latency-orders", 2000, "orders (each a breach) in the latency run; 0 skips it")
	f.DurationVar(&o.latencyGap, "latency-gap", time.Millisecond, "pause between the latency run's orders")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the evaluation run to this file")
	benchCmd.AddCommand(cmd)
}

type benchDetectorOpts struct {
	accounts, symbols, strategies, orders, rate, latencyOrders int
	latencyGap                                                 time.Duration
	cpuProfile                                                 string
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type evalResult struct {
	orders         int
	cpu, wall      time.Duration
	keys           int
	heapPerKey     int64
	estPerKey      int64
	stats          detector.EngineStats
	sink           detector.NopSink
	allocsPerOrder float64
	// stream is the evaluated orders, for the decode-only run.
	stream []detector.Observation
}

func benchEvaluate(o benchDetectorOpts) (evalResult, error) {
	w := detector.Workload{Accounts: o.accounts, Symbols: o.symbols, Strategies: o.strategies, Orders: o.orders,
		PerSecond: o.rate, BurstEvery: 200_000, BurstSize: 150, Seed: 42}
	start := time.Date(2026, 1, 5, 14, 30, 0, 0, time.UTC).UnixMilli()
	stream := w.Generate(start)
	r := evalResult{orders: len(stream), stream: stream}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e, err := detector.NewEngine(detector.Rules{}, &r.sink, nil)
	if err != nil {
		return r, err
	}
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return r, err
		}
		defer stopProfile()
	}
	cpu0, wall0 := threadCPU(), time.Now()
	nextTick := start + 1000
	half := len(stream) / 2
	var mid runtime.MemStats
	for i := range stream {
		ob := &stream[i]
		if ob.TS >= nextTick { // the detector ticks once a second
			e.Tick(ob.TS, nil)
			nextTick = ob.TS + 1000
		}
		if i == half {
			runtime.ReadMemStats(&mid) // keys and rings have grown by now
		}
		e.ObserveAll(ob, 0, true)
	}
	r.cpu, r.wall = threadCPU()-cpu0, time.Since(wall0)
	runtime.ReadMemStats(&after)
	r.allocsPerOrder = float64(after.Mallocs-mid.Mallocs) / float64(len(stream)-half)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(stream)
	r.keys = e.Keys()
	keys, est := e.KeyBytes()
	if keys > 0 {
		r.estPerKey = est / int64(keys)
		r.heapPerKey = (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(keys)
	}
	r.stats = e.Stats()
	runtime.KeepAlive(e)
	return r, nil
}

// decodeChunk is how many orders are encoded at a time for the decode-only
// run, so that a large stream's records never sit in memory all at once.
const decodeChunk = 1 << 15

// benchDecode measures the floor the evaluation is read against: the
// router's allocation-free order decoder alone over the stream's orders as
// orders.v1 JSON records (qty 1 at the order's notional), on one locked
// thread, in that thread's CPU time. Encoding is not counted.
func benchDecode(stream []detector.Observation) (time.Duration, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var (
		buf  []byte
		ends []int
		cpu  time.Duration
		// sum keeps the decoded orders in use, so the decoding is not
		// optimised away.
		sum int64
	)
	for from := 0; from < len(stream); from += decodeChunk {
		buf, ends = buf[:0], ends[:0]
		for i := from; i < min(from+decodeChunk, len(stream)); i++ {
			ob := &stream[i]
			b, err := json.Marshal(domain.Order{OrderID: "bench-" + strconv.Itoa(i), TS: ob.TS, AccountID: ob.Account,
				Symbol: ob.Symbol, Side: domain.Buy, Qty: 1, Price: float64(ob.Notional) / detector.NotionalScale,
				Strategy: ob.Strategy})
			if err != nil {
				return 0, fmt.Errorf("encode order %d: %w", i, err)
			}
			buf = append(buf, b...)
			ends = append(ends, len(buf))
		}
		cpu0 := threadCPU()
		start := 0
		for _, end := range ends {
			o, err := router.DecodeOrderWithin(buf[start:end], domain.OrderBounds{})
			if err != nil {
				return 0, fmt.Errorf("decode-only run: %w", err)
			}
			sum += o.TS
			start = end
		}
		cpu += threadCPU() - cpu0
	}
	runtime.KeepAlive(sum)
	return cpu, nil
}

// latencySignaler records how long after consuming the order each breach
// reached it.
type latencySignaler struct {
	mu   sync.Mutex
	lat  []time.Duration
	want int
	done chan struct{}
}

func (s *latencySignaler) Breach(ctx context.Context, _ workflows.BreachSignal) error {
	at, ok := detector.ConsumedAt(ctx)
	d := time.Since(at)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.lat = append(s.lat, d)
	}
	if len(s.lat) == s.want {
		close(s.done)
	}
	return nil
}

func (s *latencySignaler) Normal(context.Context, workflows.NormalSignal) error { return nil }

func benchLatency(ctx context.Context, o benchDetectorOpts) ([]time.Duration, error) {
	cluster, err := kfake.NewCluster(kfake.Ports(0), kfake.NumBrokers(1))
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	defer cluster.Close()
	kc := kafka.Config{Brokers: cluster.ListenAddrs(), ClientID: "bench-detector", Compression: kafkaComp}
	admc, err := kc.NewClient()
	if err != nil {
		return nil, err
	}
	defer admc.Close()
	if _, err := kafka.CreateTopics(ctx, kadm.NewClient(admc), kafka.Topics(3)); err != nil {
		return nil, err
	}
	sig := &latencySignaler{want: o.latencyOrders, done: make(chan struct{})}
	d, err := detector.New(detector.Config{
		Kafka:    kc,
		Signaler: sig,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Rules: detector.Rules{Rules: []detector.Rule{{Name: "every_account", Dimension: domain.ScopeAccount,
			Window: time.Minute, Metric: detector.MetricCount, Threshold: 0, Action: domain.ActionKill}}},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	for !d.Ready() {
		select {
		case err := <-runErr:
			return nil, fmt.Errorf("detector stopped: %w", err)
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	prod, err := kc.NewClient(kgo.ProducerLinger(0), kgo.DefaultProduceTopic(domain.TopicOrders))
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	now := time.Now().UnixMilli()
	for i := range o.latencyOrders {
		ord := domain.Order{OrderID: fmt.Sprint("lat-", i), TS: now + int64(i), AccountID: fmt.Sprint("L", i),
			Symbol: "AAPL", Side: domain.Buy, Qty: 1, Price: 100, Strategy: "BENCH"}
		b, _ := json.Marshal(ord)
		prod.Produce(ctx, &kgo.Record{Key: []byte(ord.AccountID), Value: b}, nil)
		if o.latencyGap > 0 {
			time.Sleep(o.latencyGap)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		return nil, err
	}
	select {
	case <-sig.done:
	case <-time.After(60 * time.Second):
		sig.mu.Lock()
		n := len(sig.lat)
		sig.mu.Unlock()
		return nil, fmt.Errorf("only %d of %d breaches signalled within 60 s", n, o.latencyOrders)
	case err := <-runErr:
		return nil, fmt.Errorf("detector stopped: %w", err)
	}
	cancel()
	<-runErr
	sig.mu.Lock()
	defer sig.mu.Unlock()
	return slices.Clone(sig.lat), nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

func benchDetector(ctx context.Context, out io.Writer, o benchDetectorOpts) error {
	if o.orders <= 0 || o.accounts <= 0 || o.symbols <= 0 || o.strategies <= 0 || o.rate <= 0 {
		return errors.New("bench detector: --orders, --accounts, --symbols, --strategies and --rate must be positive")
	}
	fmt.Fprintf(out, "evaluating %d orders (%d accounts, %d symbols, %d strategies, %d orders/s of event time), default rules...\n",
		o.orders, o.accounts, o.symbols, o.strategies, o.rate)
	r, err := benchEvaluate(o)
	if err != nil {
		return err
	}
	perCPU := float64(r.orders) / r.cpu.Seconds()
	perWall := float64(r.orders) / r.wall.Seconds()
	fmt.Fprintf(out, "decode-only: the same %d orders through the router's order decoder...\n", r.orders)
	decodeCPU, err := benchDecode(r.stream)
	if err != nil {
		return err
	}
	decodePerCPU := float64(r.orders) / decodeCPU.Seconds()
	ratio := perCPU / decodePerCPU

	var lat []time.Duration
	if o.latencyOrders > 0 {
		fmt.Fprintf(out, "breach latency: %d orders through kfake...\n", o.latencyOrders)
		if lat, err = benchLatency(ctx, o); err != nil {
			return err
		}
		slices.Sort(lat)
	}

	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tvalue\t")
	fmt.Fprintf(tw, "orders evaluated\t%d\t\n", r.orders)
	fmt.Fprintf(tw, "key evaluations (orders × dimensions)\t%d\t\n", r.stats.Evaluations)
	fmt.Fprintf(tw, "thread CPU time\t%v\t\n", r.cpu.Round(time.Millisecond))
	fmt.Fprintf(tw, "wall time\t%v\t\n", r.wall.Round(time.Millisecond))
	fmt.Fprintf(tw, "orders/s per CPU-second (one core)\t%.0f\t\n", perCPU)
	fmt.Fprintf(tw, "orders/s wall clock\t%.0f\t\n", perWall)
	fmt.Fprintf(tw, "ns per order (CPU)\t%.0f\t\n", float64(r.cpu.Nanoseconds())/float64(r.orders))
	fmt.Fprintf(tw, "decode-only orders/s per CPU-second (one core)\t%.0f\t\n", decodePerCPU)
	fmt.Fprintf(tw, "orders/s as a ratio to decode-only\t%.4f\t\n", ratio)
	fmt.Fprintf(tw, "heap allocations per order (second half)\t%.4f\t\n", r.allocsPerOrder)
	fmt.Fprintf(tw, "keys held at the end\t%d\t\n", r.keys)
	fmt.Fprintf(tw, "bytes per key (heap, measured)\t%d\t\n", r.heapPerKey)
	fmt.Fprintf(tw, "bytes per key (engine estimate)\t%d\t\n", r.estPerKey)
	fmt.Fprintf(tw, "incidents signalled\t%d\t\n", r.stats.Breaches)
	fmt.Fprintf(tw, "risk signals emitted\t%d\t\n", r.sink.Risks)
	fmt.Fprintf(tw, "keys evicted\t%d\t\n", r.stats.Evicted)
	if len(lat) > 0 {
		fmt.Fprintf(tw, "breaches measured\t%d\t\n", len(lat))
		fmt.Fprintf(tw, "breach latency p50 ms\t%s\t\n", ms(pct(lat, 0.50)))
		fmt.Fprintf(tw, "breach latency p99 ms\t%s\t\n", ms(pct(lat, 0.99)))
		fmt.Fprintf(tw, "breach latency max ms\t%s\t\n", ms(lat[len(lat)-1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "detector_orders_per_s=%.0f decode_orders_per_s=%.0f detector_decode_ratio=%.4f bytes_per_key=%d breach_p99_ms=%s\n",
		perCPU, decodePerCPU, ratio, r.heapPerKey, ms(pct(lat, 0.99)))
	return nil
}
