package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/kafka"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/ingest/router"
)

func init() {
	var o benchRouterOpts
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Measure the router against a raw pass-through pipe on an in-process Kafka, then its latency",
		Long: `Rounds of two runs, each on a new in-process Kafka (kfake over TCP)
filled alike with --orders orders, then a latency run:

  pipe     consumes orders.v1 and produces two records per order, in the same
           transactions and batches as the router, with no decoding or decision
           (--pipe-pad N adds N bytes to the second, so that the pipe can write
           as many bytes per order as the router and the ratio measures the
           router's own work rather than the broker's work on its larger output;
           --pipe-pad auto finds N first, from a pipe run and a router run of
           at most 50,000 orders, as the router's bytes per order less the
           pipe's);
  router   the real router (state bootstrap, decode, dedup, decide, audit) on the
           same orders;
  latency  orders offered at a fixed --rate for --latency-duration to the last
           router; latency is from producing an order to its audit record being
           readable (read_committed).

The in-process Kafka slows as its log grows, hence a new one for every run;
a round's runs take turns going first. Each round's ratio pairs its two runs,
and the figures reported are the medians of the rounds. Every client writes
with --kafka-compression, so the pipe pays for the codec as the router does.
Each round's line also says how long the router spent ending its
transactions (riskgate_router_txn_end_duration_seconds), deciding nothing
meanwhile, and how much of that was waiting for Kafka to take what they
wrote (riskgate_router_txn_flush_duration_seconds) rather than committing.
The last line is machine-readable:
router_orders_per_s=N pipe_orders_per_s=N ratio=R p50_ms=X p99_ms=Y compression=C wire_bytes_per_order=B pipe_pad_bytes=N`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchRouter(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.orders, "orders", 1_000_000, "orders in the throughput runs")
	f.Int32Var(&o.partitions, "partitions", 3, "partitions of each topic")
	f.IntVar(&o.maxBatch, "max-batch", router.DefaultMaxBatch, "orders per transaction, for the pipe and the router")
	f.IntVar(&o.scopes, "scopes", 10_000, "kill states in the table (a tenth KILLED)")
	f.IntVar(&o.rate, "rate", 10_000, "offered orders per second in the latency run")
	f.DurationVar(&o.latencyDur, "latency-duration", 5*time.Second, "length of the latency run")
	f.IntVar(&o.rounds, "rounds", 3, "rounds of a pipe run and a router run; the medians count")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the last router run to this file")
	f.StringVar(&o.kafkaDir, "kafka-dir", "", "keep each run's in-process Kafka log in files in a new directory under this one, removed after the run, as a broker keeps its log in the page cache (default: in memory, in files that grow by doubling)")
	f.StringVar(&o.pipePadFlag, "pipe-pad", "0", "bytes of spaces added to the pipe's second copy of each order (at most 65536), or auto: as many as the router writes more per order (with --kafka-compression none)")
	f.BoolVar(&o.noLimits, "no-limits", false, "run the router without its pre-trade limits (by default they check and count every order, with caps the traffic never reaches)")
	benchCmd.AddCommand(cmd)
}

type benchRouterOpts struct {
	orders, maxBatch, scopes, rate, rounds int
	pipePad                                int
	pipePadFlag                            string // --pipe-pad: pipePad, or "auto"
	partitions                             int32
	latencyDur                             time.Duration
	cpuProfile, kafkaDir                   string
	noLimits                               bool
}

// benchLimits holds every scope to window and credit caps the bench's
// traffic never reaches, so every order pays for its limits check and the
// usage it counts (the costly part) and none is BLOCKed.
func benchLimits() *limits.Config {
	c := limits.Config{}
	for _, t := range domain.ScopeTypes {
		l := c.Defaults.Of(t)
		l.MaxOrders, l.MaxNotional = domain.MaxLimitOrders, domain.MaxLimitNotional
		if t == domain.ScopeAccount {
			l.CreditLimit = domain.MaxLimitNotional
		}
	}
	return &c
}

// Topics of the pass-through pipe, apart from the router's.
const (
	benchPipeA = "bench.pipe.a"
	benchPipeB = "bench.pipe.b"
)

func benchRouter(ctx context.Context, out io.Writer, o benchRouterOpts) error {
	if o.orders <= 0 || o.rounds <= 0 || o.rate <= 0 || o.maxBatch <= 0 {
		return errors.New("--orders, --rounds, --rate and --max-batch must be positive")
	}
	auto := o.pipePadFlag == "auto"
	if !auto {
		pad, err := strconv.Atoi(o.pipePadFlag)
		if err != nil || pad < 0 || pad > maxPipePad {
			return fmt.Errorf("--pipe-pad %s: want 0 to %d bytes, or auto", o.pipePadFlag, maxPipePad)
		}
		o.pipePad = pad
	} else if kafkaComp != kafka.CompressionNone {
		// Spaces compress to next to nothing: a codec's batches would not
		// carry the pad's bytes to the broker.
		return fmt.Errorf("--pipe-pad auto: pads the bytes before compression, which --kafka-compression %s does not write; use none", kafkaComp)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if auto {
		pad, err := benchPipePad(ctx, out, o, log)
		if err != nil {
			return err
		}
		o.pipePad = pad
	}
	fmt.Fprintf(out, "each run on a new in-process Kafka holding %d orders and %d kill states (compression %s) …\n", o.orders, o.scopes, kafkaComp)

	// Every run gets a Kafka of its own, filled alike: the in-process
	// broker slows as its log grows, so a run on a cluster that already
	// holds the previous runs' output would be measured on a slower
	// broker. Each round runs the pipe and the router, in turns first, and
	// its ratio pairs the two; the figures are the rounds' medians, so a
	// burst of other load on the machine does not decide them.
	var pipeRuns, routerRuns benchRuns
	var fills []time.Duration
	var last *benchCluster // the last router run's, kept for the latency run
	var stopRouter func()
	defer func() {
		if stopRouter != nil {
			stopRouter()
		}
		if last != nil {
			last.close()
		}
	}()
	for round := 1; round <= o.rounds; round++ {
		for i := range 2 {
			// The last round runs the router second, to keep it running
			// for the latency run; the rounds before alternate.
			runPipe := (i == 0) == ((o.rounds-round)%2 == 0)
			bc, fill, err := newBenchCluster(ctx, o)
			if err != nil {
				return err
			}
			fills = append(fills, fill)
			benchSettle()
			cpu0, m0 := benchProcessCPU(), benchMallocs()
			if runPipe {
				took, err := benchRouterPipe(ctx, bc.kc, o, round)
				if err != nil {
					bc.close()
					return fmt.Errorf("pipe run %d: %w", round, err)
				}
				pipeRuns.add(o, took, benchProcessCPU()-cpu0, benchTxnEnd{}, benchMallocs()-m0)
				pipeRuns.written(o, bc.written)
				bc.close()
				continue
			}
			profile := ""
			if round == o.rounds {
				profile = o.cpuProfile
			}
			took, cpu, end, stop, err := benchRouterRun(ctx, bc.kc, o, round, log, profile)
			if err != nil {
				bc.close()
				return fmt.Errorf("router run %d: %w", round, err)
			}
			routerRuns.add(o, took, cpu, end, benchMallocs()-m0)
			routerRuns.written(o, bc.written)
			if round < o.rounds {
				stop()
				bc.close()
				continue
			}
			stopRouter, last = stop, bc
		}
		p, r := pipeRuns.rate[round-1], routerRuns.rate[round-1]
		// While a transaction ends the router waits for Kafka to take
		// what it wrote; that wait is most of what moves from run to run.
		fmt.Fprintf(out, "round %d: pipe %.0f orders/s, router %.0f orders/s (%.3f s of its %.3f s ending transactions, %.3f s of it flushing), ratio %.2f\n", round,
			p, r, routerRuns.ending[round-1], routerRuns.took[round-1], routerRuns.flush[round-1], r/p)
	}

	lat, err := benchRouterLatency(ctx, last.kc, o)
	if err != nil {
		return fmt.Errorf("latency run: %w", err)
	}
	ratios := make([]float64, o.rounds)
	for i := range ratios {
		ratios[i] = routerRuns.rate[i] / pipeRuns.rate[i]
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	fill := benchMedian(fills)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "run (median of %d)\torders\tseconds\torders/s\tprocess CPU µs/order\tprocess allocs/order\t\n", o.rounds)
	fmt.Fprintf(w, "fill (produce)\t%d\t%.2f\t%.0f\t\t\t\n", o.orders, fill.Seconds(), float64(o.orders)/fill.Seconds())
	for _, row := range []struct {
		name string
		r    *benchRuns
	}{{"pipe", &pipeRuns}, {"router", &routerRuns}} {
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%.0f\t%.2f\t%.1f\t\n", row.name, o.orders, benchMedian(row.r.took),
			benchMedian(row.r.rate), benchMedian(row.r.cpu), benchMedian(row.r.allocs))
	}
	w.Flush()
	fmt.Fprintf(out, "ratio router/pipe by round: %s (median %.2f)\n", benchJoin(ratios), benchMedian(ratios))
	fmt.Fprintf(out, "latency at %d orders/s for %v: %d orders, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		o.rate, o.latencyDur, len(lat), pct(0.50), pct(0.90), pct(0.99), pct(1))
	fmt.Fprintf(out, "router wrote %.0f bytes/order in %s batches, %.0f before compression; the pipe %.0f and %.0f (--pipe-pad %d)\n",
		benchMedian(routerRuns.wire), kafkaComp, benchMedian(routerRuns.raw), benchMedian(pipeRuns.wire), benchMedian(pipeRuns.raw), o.pipePad)
	fmt.Fprintf(out, "router_orders_per_s=%.0f pipe_orders_per_s=%.0f ratio=%.2f p50_ms=%.2f p99_ms=%.2f compression=%s wire_bytes_per_order=%.0f pipe_pad_bytes=%d\n",
		benchMedian(routerRuns.rate), benchMedian(pipeRuns.rate), benchMedian(ratios), pct(0.50), pct(0.99), kafkaComp, benchMedian(routerRuns.wire), o.pipePad)
	return nil
}

// benchPipePad is --pipe-pad auto: it runs the unpadded pipe and the router
// on clusters of at most 50,000 orders and returns the bytes per order
// the router writes more, so that the padded pipe writes as much as the
// router and the ratio compares their work on the same output.
func benchPipePad(ctx context.Context, out io.Writer, o benchRouterOpts, log *slog.Logger) (int, error) {
	o.orders, o.pipePad = min(o.orders, 50_000), 0
	var pipe, router benchRuns
	for _, runPipe := range []bool{true, false} {
		bc, _, err := newBenchCluster(ctx, o)
		if err != nil {
			return 0, err
		}
		if runPipe {
			_, err = benchRouterPipe(ctx, bc.kc, o, 0)
			pipe.written(o, bc.written)
		} else {
			var stop func()
			if _, _, _, stop, err = benchRouterRun(ctx, bc.kc, o, 0, log, ""); err == nil {
				stop()
				router.written(o, bc.written)
			}
		}
		bc.close()
		if err != nil {
			return 0, fmt.Errorf("--pipe-pad auto: %w", err)
		}
	}
	pad := min(max(int(math.Round(router.raw[0]-pipe.raw[0])), 0), maxPipePad)
	fmt.Fprintf(out, "--pipe-pad auto: on %d orders the router wrote %.0f bytes/order and the pipe %.0f: the pipe's second copy padded with %d\n",
		o.orders, router.raw[0], pipe.raw[0], pad)
	return pad, nil
}

// benchRuns holds the figures of the runs of one kind, in round order.
type benchRuns struct {
	took, rate, cpu, allocs []float64 // s, orders/s, µs/order, per order
	ending, flush           []float64 // s ending transactions, s of it flushing (router runs)
	raw, wire               []float64 // bytes/order written, before and after compression
}

func (b *benchRuns) add(o benchRouterOpts, took, cpu time.Duration, end benchTxnEnd, mallocs uint64) {
	b.took = append(b.took, took.Seconds())
	b.rate = append(b.rate, float64(o.orders)/took.Seconds())
	b.cpu = append(b.cpu, float64(cpu.Microseconds())/float64(o.orders))
	b.ending = append(b.ending, end.total.Seconds())
	b.flush = append(b.flush, end.flush.Seconds())
	b.allocs = append(b.allocs, float64(mallocs)/float64(o.orders))
}

// written notes the bytes per order that a run's clients wrote to its
// cluster: the fill's orders are not counted, the cluster being new and
// its filling client's batches counted before the run.
func (b *benchRuns) written(o benchRouterOpts, w *benchBatchBytes) {
	b.raw = append(b.raw, float64(w.raw.Load()-w.fillRaw)/float64(o.orders))
	b.wire = append(b.wire, float64(w.wire.Load()-w.fillWire)/float64(o.orders))
}

// benchMedian is the median of xs (the mean of the middle two of an even
// count), xs left as they were.
func benchMedian[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func benchJoin(xs []float64) string {
	var b []byte
	for i, x := range xs {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, x, 'f', 2, 64)
	}
	return string(b)
}

// benchSettle collects the garbage of the previous run and returns the
// freed memory to the system, so that every run starts from the same heap
// and pays alike for the memory its broker's log takes.
func benchSettle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// benchCluster is an in-process Kafka (kfake over TCP) with the bench's
// topics, kill states and orders.
type benchCluster struct {
	c       *kfake.Cluster
	dir     string // its log's directory, if not in memory
	kc      kafka.Config
	written *benchBatchBytes
}

// newBenchCluster starts a cluster and fills it, returning how long the
// orders took to produce.
func newBenchCluster(ctx context.Context, o benchRouterOpts) (*benchCluster, time.Duration, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(0)}
	var dir string
	if o.kafkaDir != "" {
		var err error
		if dir, err = os.MkdirTemp(o.kafkaDir, "bench-router-kafka-"); err != nil {
			return nil, 0, fmt.Errorf("--kafka-dir: %w", err)
		}
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, 0, fmt.Errorf("start kfake: %w", err)
	}
	bc := &benchCluster{c: c, dir: dir, written: &benchBatchBytes{}}
	bc.kc = kafka.Config{Brokers: c.ListenAddrs(), ClientID: "bench-router", Compression: kafkaComp,
		Extra: []kgo.Opt{kgo.WithHooks(bc.written)}}
	if err := benchRouterTopics(ctx, bc.kc, o.partitions); err != nil {
		bc.close()
		return nil, 0, err
	}
	start := time.Now()
	if err := benchRouterFill(ctx, bc.kc, o); err != nil {
		bc.close()
		return nil, 0, err
	}
	bc.written.fillRaw, bc.written.fillWire = bc.written.raw.Load(), bc.written.wire.Load()
	return bc, time.Since(start), nil
}

func (bc *benchCluster) close() {
	bc.c.Close()
	if bc.dir != "" {
		os.RemoveAll(bc.dir)
	}
}

// benchBatchBytes counts the record bytes of every batch the bench's
// clients write, before and after compression, and how many of them filled
// the cluster.
type benchBatchBytes struct {
	raw, wire         atomic.Int64
	fillRaw, fillWire int64
}

func (b *benchBatchBytes) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	b.raw.Add(int64(m.UncompressedBytes))
	b.wire.Add(int64(m.CompressedBytes))
}

func benchRouterTopics(ctx context.Context, kc kafka.Config, partitions int32) error {
	cl, err := kc.NewClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	specs := append(kafka.Topics(partitions),
		kafka.TopicSpec{Name: benchPipeA, Partitions: partitions},
		kafka.TopicSpec{Name: benchPipeB, Partitions: partitions})
	_, err = kafka.CreateTopics(ctx, kadm.NewClient(cl), specs)
	return err
}

// benchRouterFill writes the kill states and the orders: 10,000 accounts,
// 50 symbols, 8 strategies; a tenth of the states KILLED.
func benchRouterFill(ctx context.Context, kc kafka.Config, o benchRouterOpts) error {
	cl, err := kc.NewClient(kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(50_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	var first error
	var mu sync.Mutex
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
		}
	}
	for i := range o.scopes {
		status := domain.StatusActive
		if i%10 == 0 {
			status = domain.StatusKilled
		}
		scope := "ACCOUNT:bench-" + strconv.Itoa(i)
		v := fmt.Appendf(nil, `{"scope":%q,"status":%q,"updated_ts":1,"updated_by":"bench","reason":"bench","last_cmd_id":"c","corr_id":"corr-%d","version":1,"auto_unkill_enabled":false,"workflow_id":"w","run_id":"r"}`,
			scope, status, i)
		cl.Produce(ctx, &kgo.Record{Topic: domain.TopicState, Key: []byte(scope), Value: v}, promise)
	}
	ts := time.Now().UnixMilli()
	for i := range o.orders {
		acct := "bench-" + strconv.Itoa(i*7919%10_000)
		v := fmt.Appendf(nil, `{"order_id":"b-%d","ts":%d,"account_id":%q,"symbol":"SYM%d","side":"BUY","qty":%d,"price":%d.25,"strategy":"strat-%d"}`,
			i, ts, acct, i%50, 1+i%500, 10+i%300, i%8)
		cl.Produce(ctx, &kgo.Record{Topic: domain.TopicOrders, Key: []byte(acct), Value: v}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return first
}

// maxPipePad bounds --pipe-pad: a padded order fits well within the
// producer's largest batch (1,000,012 bytes by default).
const maxPipePad = 64 << 10

// benchRouterPipe consumes every order and produces two records per order
// in transactions shaped like the router's, the second padded with
// o.pipePad spaces (JSON still), returning the time it took.
func benchRouterPipe(ctx context.Context, kc kafka.Config, o benchRouterOpts, round int) (time.Duration, error) {
	id := "bench-pipe-" + strconv.Itoa(round)
	sess, err := kgo.NewGroupTransactSession(append(kc.Opts(),
		kgo.ConsumerGroup(id),
		kgo.ConsumeTopics(domain.TopicOrders),
		kgo.TransactionalID(id),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(3*o.maxBatch+1024),
	)...)
	if err != nil {
		return 0, err
	}
	defer sess.Close()
	start := time.Now()
	var mu sync.Mutex
	var prodErr error
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			prodErr = cmp.Or(prodErr, err)
			mu.Unlock()
		}
	}
	// The padded copies of a transaction's orders, kept until it ends, as
	// the router keeps its audit records.
	var arena []byte
	pad := bytes.Repeat([]byte{' '}, o.pipePad)
	done := 0
	for done < o.orders {
		fs := sess.PollRecords(ctx, o.maxBatch)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return 0, err
		}
		if fs.NumRecords() == 0 {
			sess.AllowRebalance()
			continue
		}
		if err := sess.Begin(); err != nil {
			return 0, err
		}
		n := 0
		arena = arena[:0]
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Topic: benchPipeA, Key: r.Key, Value: r.Value}, promise)
			v := r.Value
			if len(pad) > 0 {
				if len(arena)+len(v)+len(pad) > cap(arena) {
					// Values handed out earlier stay valid in the old array.
					arena = make([]byte, 0, max(2*cap(arena), 1<<20, len(v)+len(pad)))
				}
				off := len(arena)
				arena = append(append(arena, v...), pad...)
				v = arena[off:len(arena):len(arena)]
			}
			sess.Produce(ctx, &kgo.Record{Topic: benchPipeB, Key: r.Key, Value: v}, promise)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return 0, err
		}
		if committed {
			done += n
		}
		sess.AllowRebalance()
	}
	mu.Lock()
	defer mu.Unlock()
	return time.Since(start), prodErr
}

// benchRouterRun starts a router in a new group and returns how long it
// took to decide every order, the process CPU meanwhile, how much of that
// time the router spent ending its transactions, and how to stop it.
func benchRouterRun(ctx context.Context, kc kafka.Config, o benchRouterOpts, round int, log *slog.Logger, cpuProfile string) (took, cpu time.Duration, end benchTxnEnd, stop func(), err error) {
	reg := prometheus.NewRegistry()
	id := "bench-router-" + strconv.Itoa(round)
	r, err := router.New(router.Config{Kafka: kc, Group: id, DedupTopic: id + ".dedup", Log: log,
		Registerer: reg, InstanceID: id, MaxBatch: o.maxBatch, Limits: benchLimits(), NoLimits: o.noLimits})
	if err != nil {
		return 0, 0, benchTxnEnd{}, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runErr := make(chan error, 1)
	wg.Go(func() { runErr <- r.Run(rctx) })
	stop = func() { cancel(); wg.Wait() }
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			stop()
			return 0, 0, benchTxnEnd{}, nil, err
		}
		defer stopProfile()
	}
	// The clock starts once the kill state is bootstrapped, as the pipe's
	// starts with its session.
	for !r.Ready() {
		select {
		case err := <-runErr:
			stop()
			return 0, 0, benchTxnEnd{}, nil, fmt.Errorf("router stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	start, cpu0, end0 := time.Now(), benchProcessCPU(), benchEnding(reg)
	for benchDecided(reg) < float64(o.orders) {
		select {
		case err := <-runErr:
			stop()
			return 0, 0, benchTxnEnd{}, nil, fmt.Errorf("router stopped: %v", err)
		case <-ctx.Done():
			stop()
			return 0, 0, benchTxnEnd{}, nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	took, cpu = time.Since(start), benchProcessCPU()-cpu0
	end = benchEnding(reg)
	end.total -= end0.total
	end.flush -= end0.flush
	return took, cpu, end, stop, nil
}

// benchSum is the sum over the series of the router's metric name of what
// value reads from each.
func benchSum(reg *prometheus.Registry, name string, value func(*dto.Metric) float64) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += value(m)
			}
		}
	}
	return sum
}

// benchDecided is the number of decisions the router has committed.
func benchDecided(reg *prometheus.Registry) float64 {
	return benchSum(reg, "riskgate_router_decisions_total", func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// benchTxnEnd is how long a router's transactions took to end, in all,
// and how much of it they spent flushing.
type benchTxnEnd struct{ total, flush time.Duration }

// benchEnding reads the router's benchTxnEnd so far.
func benchEnding(reg *prometheus.Registry) benchTxnEnd {
	sum := func(name string) time.Duration {
		s := benchSum(reg, name, func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() })
		return time.Duration(s * float64(time.Second))
	}
	return benchTxnEnd{total: sum("riskgate_router_txn_end_duration_seconds"), flush: sum("riskgate_router_txn_flush_duration_seconds")}
}

// benchRouterLatency offers orders at o.rate and times each one from its
// produce call to its audit record being readable.
func benchRouterLatency(ctx context.Context, kc kafka.Config, o benchRouterOpts) ([]time.Duration, error) {
	total := int(float64(o.rate) * o.latencyDur.Seconds())
	sent := make([]int64, total) // UnixNano at produce
	got := make([]time.Duration, 0, total)

	cons, err := kc.NewClient(
		kgo.ConsumeTopics(domain.TopicAudit),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	// Make sure the consumer sits at the end before the first order.
	benchPoll(ctx, cons)

	prod, err := kc.NewClient(kgo.ProducerLinger(0))
	if err != nil {
		return nil, err
	}
	defer prod.Close()

	var sentMu sync.Mutex
	prodDone := make(chan error, 1)
	go func() {
		const tick = time.Millisecond
		perTick := max(1, o.rate/1000)
		start := time.Now()
		for i := 0; i < total; {
			due := start.Add(time.Duration(i/perTick) * tick)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			for j := 0; j < perTick && i < total; j, i = j+1, i+1 {
				acct := "lat-" + strconv.Itoa(i%1000)
				v := fmt.Appendf(nil, `{"order_id":"lat-%d","ts":%d,"account_id":%q,"symbol":"LAT","side":"SELL","qty":1,"price":1,"strategy":"lat"}`,
					i, time.Now().UnixMilli(), acct)
				sentMu.Lock()
				sent[i] = time.Now().UnixNano()
				sentMu.Unlock()
				prod.Produce(ctx, &kgo.Record{Topic: domain.TopicOrders, Key: []byte(acct), Value: v}, nil)
			}
		}
		prodDone <- prod.Flush(ctx)
	}()

	deadline := time.Now().Add(o.latencyDur + 30*time.Second)
	for len(got) < total && time.Now().Before(deadline) {
		fs := benchPoll(ctx, cons)
		now := time.Now().UnixNano()
		fs.EachRecord(func(r *kgo.Record) {
			var n int
			if _, err := fmt.Sscanf(string(r.Key), "lat-%d", &n); err != nil || n < 0 || n >= total {
				return
			}
			sentMu.Lock()
			at := sent[n]
			sentMu.Unlock()
			got = append(got, time.Duration(now-at))
		})
	}
	if err := <-prodDone; err != nil {
		return nil, err
	}
	if len(got) < total {
		return got, fmt.Errorf("only %d of %d audit records arrived", len(got), total)
	}
	return got, nil
}

// benchPoll polls for at most 200ms.
func benchPoll(ctx context.Context, cl *kgo.Client) kgo.Fetches {
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	return cl.PollFetches(c)
}

// benchProcessCPU is the CPU time of the whole process (router, clients
// and the in-process Kafka).
func benchProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchMallocs is the process's count of heap allocations so far.
func benchMallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
