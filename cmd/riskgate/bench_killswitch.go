package main

// riskgate bench killswitch: time-to-enforcement of kills on an embedded
// stack (kfake + Temporal dev server + worker, router, detector), measured
// from outside, the way an order sees it: produce orders, read audit.v1.
// The mass kill is also timed at each hop (detector signal, state
// published, router DROPs) so a slow run says where the time went.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/detector"
	"github.com/riskgate/riskgate/ingest/kafka"
)

func init() {
	var o benchKSOptions
	cmd := &cobra.Command{
		Use:   "killswitch",
		Short: "Time from a breaching order to the router dropping the scope's orders",
		Long: `Start an embedded stack and measure kill enforcement end to end:
(a) incidents one after another: time from producing the order that crosses the
    detector's threshold to the first DROP audit record of that account; each
    account first sends orders up to the threshold, and once the router has
    decided them and --gap has passed, the crossing order;
(b) many accounts breaching at once: time from producing their crossing orders
    until every one of them is DROPped by the router, with the time at which
    the detector had signalled all breaches and the workflows had published
    all KILLED states.
Enforcement is probed with one order per account not yet DROPped, each round,
at most --probe-rate orders a second in all.
Both are then broken down hop by hop (p50 and p99 over the same incidents):
order produced → detector evaluated it (its breach risk signal) → breach
recorded by Temporal (the run's history) → workflow task started → KILLED
state published → router decided the first DROP (audit ts) → the bench read
that DROP.
Before them, the Temporal floor on the same server: a no-op workflow started
by SignalWithStart that runs one local activity, one after another and
--mass at once; kill p99 and the mass kill are also given as ratios to it.
Prints tables, then one line: kill_p50_ms=X kill_p99_ms=Y mass_kill_1000_s=Z
floor_p50_ms=… floor_p99_ms=… floor_mass_1000_s=… kill_p99_ratio=…
mass_kill_ratio=… mass_breach_signals=… hop_<hop>_p50_ms=… hop_<hop>_p99_ms=…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchKillSwitch(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.incidents, "incidents", 200, "incidents measured one after another (p99 is their maximum below 100)")
	f.IntVar(&o.mass, "mass", 1000, "accounts breaching at once")
	f.IntVar(&o.threshold, "threshold", 100, "the detector's order-count threshold per account and minute")
	f.IntVar(&o.probeRate, "probe-rate", 5000, "most probe orders per second while waiting for DROPs")
	f.DurationVar(&o.gap, "gap", 100*time.Millisecond, "before each incident's breaching order, wait until the router decided its warm-up orders, then this long, so that the previous incident's follow-up work is done (0: send it right after its warm-up, incidents back to back)")
	f.DurationVar(&o.probeEvery, "probe-every", time.Millisecond, "gap between an incident's probe orders: its first DROP is seen up to this late")
	f.DurationVar(&o.limit, "limit", 2*time.Minute, "give up on a measurement after this long")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process (detector, router, worker, Kafka) during the mass kill")
	f.StringVar(&o.incidentsCSV, "incidents-csv", "", "write each incident one after another as a CSV row: when its breaching order was produced, each hop and the end to end time (ms)")
	f.BoolVar(&o.withIndexer, "with-indexer", false, "keep the audit indexer running (it is not on the kill path, and indexing the warm-up orders competes for the CPU)")
	f.BoolVar(&o.verbose, "verbose", false, "log the stack's warnings")
	addExternalFlags(f, &o)
	benchCmd.AddCommand(cmd)
}

type benchKSOptions struct {
	incidents, mass, threshold, probeRate int
	limit, probeEvery, gap                time.Duration
	cpuProfile, incidentsCSV              string
	withIndexer, verbose                  bool
	external                              bool     // measure running roles (bench_killswitch_external.go)
	detectorMetrics                       []string // their detectors' /metrics URLs, if known
	tag                                   string   // in the accounts' names, so runs on one stack differ
}

// ksTarget is what the measurement needs of the stack it measures.
type ksTarget struct {
	kafka func(clientID string) kafka.Config
	// breaches is the number of breach signals the detectors have
	// delivered so far; nil when it cannot be known.
	breaches func() int
	// temporal reads the runs' histories and measures the floor; nil
	// leaves both out.
	temporal client.Client
}

// firstSeen records when something was first seen per account.
type firstSeen struct {
	mu    sync.Mutex
	first map[string]time.Time
	n     int // records read
}

func newFirstSeen() *firstSeen { return &firstSeen{first: map[string]time.Time{}} }

func (f *firstSeen) note(account string, t time.Time) {
	if _, ok := f.first[account]; !ok {
		f.first[account] = t
	}
}

func (f *firstSeen) seen(account string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.first[account]
	return t, ok
}

func (f *firstSeen) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// lastOf returns the latest first-seen time of accounts and how many of them
// were seen.
func (f *firstSeen) lastOf(accounts []string) (time.Time, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var last time.Time
	n := 0
	for _, a := range accounts {
		if t, ok := f.first[a]; ok {
			n++
			if t.After(last) {
				last = t
			}
		}
	}
	return last, n
}

func benchKillSwitch(ctx context.Context, out io.Writer, o benchKSOptions) error {
	if o.probeEvery <= 0 {
		return fmt.Errorf("bench killswitch: --probe-every must be positive, not %v", o.probeEvery)
	}
	if o.gap < 0 {
		return fmt.Errorf("bench killswitch: --gap must not be negative, not %v", o.gap)
	}
	if o.external {
		return benchKillSwitchExternal(ctx, out, o)
	}
	lvl := slog.LevelError + 4
	if o.verbose {
		lvl = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	fmt.Fprintln(out, "starting the embedded stack (kfake, Temporal dev server, worker, router, detector)…")
	start := time.Now()
	// Only the account count rule: the measurement is about enforcement, and
	// the bench's traffic would trip the concentration and symbol rules first.
	def := detector.DefaultRules()
	rules := detector.Rules{Lateness: def.Lateness, FutureSkew: def.FutureSkew, NormalAfter: def.NormalAfter,
		Rules: []detector.Rule{{Name: "account_count_1m", Dimension: domain.ScopeAccount, Window: time.Minute,
			Metric: detector.MetricCount, Threshold: float64(o.threshold), Action: domain.ActionKill}}}
	// Pre-trade limits the traffic never reaches: 1,000 accounts crossing
	// the count rule at once would cross the default SYMBOL caps, whose
	// BLOCKs escalate to kills of their own (and would DROP other scopes'
	// orders before their own kills land).
	s, err := devstack.Start(ctx, devstack.Options{Headless: true, Log: log, Cooldown: time.Hour,
		Detector: detector.Config{Rules: rules}, Limits: benchLimits()})
	if err != nil {
		return fmt.Errorf("bench killswitch: %w", err)
	}
	defer s.Close()
	fmt.Fprintf(out, "stack up in %v\n", time.Since(start).Round(time.Millisecond))
	if !o.withIndexer {
		if err := s.StopComponent(devstack.Indexer); err != nil {
			return fmt.Errorf("bench killswitch: %w", err)
		}
		fmt.Fprintln(out, "audit indexer stopped: it is not on the kill path (--with-indexer keeps it)")
	}
	return measureKillSwitch(ctx, out, o, ksTarget{kafka: s.KafkaConfig, temporal: s.Client,
		breaches: func() int { return breachesSignalled(s.Registry) }})
}

// measureKillSwitch runs both measurements against a running stack and
// prints the table.
func measureKillSwitch(ctx context.Context, out io.Writer, o benchKSOptions, s ksTarget) error {
	start := time.Now()
	prod, err := s.kafka("bench-producer").NewClient(kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return fmt.Errorf("bench producer: %w", err)
	}
	defer prod.Close()
	drops, killed, marks := newFirstSeen(), newFirstSeen(), newHopMarks()
	if err := watchTopics(ctx, s.kafka("bench-watch"), drops, killed, marks); err != nil {
		return err
	}
	var fl floorResult
	if s.temporal != nil {
		fmt.Fprintln(out, "measuring the Temporal floor (SignalWithStart of a no-op workflow that runs one local activity)…")
		if fl, err = measureFloor(ctx, s.temporal, o.tag, o.incidents, o.mass, o.limit); err != nil {
			return fmt.Errorf("bench killswitch: %w", err)
		}
	}

	seq := 0
	order := func(account string) *kgo.Record {
		seq++
		o := domain.Order{OrderID: fmt.Sprintf("bench-%d-%d", start.UnixNano(), seq), TS: time.Now().UnixMilli(),
			AccountID: account, Symbol: fmt.Sprintf("S%d", seq%97), Side: domain.Buy, Qty: 1, Price: 10, Strategy: "bench"}
		b, _ := json.Marshal(o)
		return &kgo.Record{Topic: domain.TopicOrders, Key: []byte(account), Value: b}
	}
	produceAll := func(recs []*kgo.Record) error {
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("produce %d orders: %w", len(recs), err)
		}
		return nil
	}
	probe := func(accounts []string, every time.Duration) (time.Time, error) {
		return probeUntilDropped(ctx, prod, drops, accounts, order, every, o.probeRate, o.limit)
	}

	// (a) incidents one after another.
	var lat []time.Duration
	var incidents []string
	producedAt := map[string]time.Time{}
	for i := range o.incidents {
		account := fmt.Sprintf("BK%s%05d", o.tag, i)
		warm := make([]*kgo.Record, o.threshold)
		for j := range warm {
			warm[j] = order(account)
		}
		before := drops.count()
		if err := produceAll(warm); err != nil {
			return fmt.Errorf("incident %d: %w", i, err)
		}
		if o.gap > 0 {
			if err := waitDecided(ctx, drops, before+len(warm), o.limit); err != nil {
				return fmt.Errorf("incident %d warm-up: %w", i, err)
			}
			time.Sleep(o.gap)
		}
		t0 := time.Now()
		if err := produceAll([]*kgo.Record{order(account)}); err != nil {
			return fmt.Errorf("incident %d: %w", i, err)
		}
		dropped, err := probe([]string{account}, o.probeEvery)
		if err != nil {
			return fmt.Errorf("incident %d (%s): %w", i, account, err)
		}
		lat = append(lat, dropped.Sub(t0))
		incidents = append(incidents, account)
		producedAt[account] = t0
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return pctOf(lat, p) }

	// (b) many accounts at once: warm every account up to the threshold,
	// let the router decide all of it, then send each its crossing order.
	accounts := make([]string, o.mass)
	var warm []*kgo.Record
	for i := range accounts {
		accounts[i] = fmt.Sprintf("BM%s%05d", o.tag, i)
		for range o.threshold {
			warm = append(warm, order(accounts[i]))
		}
	}
	before := drops.count()
	if err := produceAll(warm); err != nil {
		return fmt.Errorf("mass warm-up: %w", err)
	}
	if err := waitDecided(ctx, drops, before+len(warm), o.limit); err != nil {
		return fmt.Errorf("mass warm-up: %w", err)
	}
	crossing := make([]*kgo.Record, len(accounts))
	for i, a := range accounts {
		crossing[i] = order(a)
	}
	signalled0 := 0
	if s.breaches != nil {
		signalled0 = s.breaches()
	}
	signalled := watchSignals(ctx, s.breaches, signalled0+len(accounts))
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cpu0 := cpuTimes()
	t0 := time.Now()
	if err := produceAll(crossing); err != nil {
		return fmt.Errorf("mass kill: %w", err)
	}
	last, err := probe(accounts, 20*time.Millisecond)
	if err != nil {
		return fmt.Errorf("mass kill: %w", err)
	}
	mass := last.Sub(t0)
	cpu1 := cpuTimes()
	published, nPublished := killed.lastOf(accounts)
	delivered := -1
	if s.breaches != nil {
		delivered = s.breaches() - signalled0
	}
	readAt := func(a string) time.Time { t, _ := drops.seen(a); return t }
	oneRaw := measureHops(ctx, s.temporal, marks, incidents, func(a string) time.Time { return producedAt[a] }, readAt)
	if o.incidentsCSV != "" {
		if err := writeIncidentsCSV(o.incidentsCSV, incidents, producedAt, readAt, oneRaw); err != nil {
			return fmt.Errorf("bench killswitch: %w", err)
		}
	}
	oneHops := summarizeHops(oneRaw)
	massHops := summarizeHops(measureHops(ctx, s.temporal, marks, accounts, func(string) time.Time { return t0 }, readAt))

	ms := msStr
	sec := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tn\tp50\tp90\tp99\tmax\t")
	if len(lat) > 0 {
		fmt.Fprintf(tw, "breach order → first DROP (ms)\t%d\t%s\t%s\t%s\t%s\t\n", len(lat), ms(pct(0.5)), ms(pct(0.9)), ms(pct(0.99)), ms(lat[len(lat)-1]))
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t")
	fmt.Fprintf(tw, "%d scopes at once, from their breaching orders (s)\tscopes\t\t\t\tat\t\n", o.mass)
	if at, ok := signalled(); ok {
		fmt.Fprintf(tw, "  detector: every breach signalled to its workflow\t%d\t\t\t\t%s\t\n", o.mass, sec(at.Sub(t0)))
	} else if s.breaches != nil {
		fmt.Fprintf(tw, "  detector: breaches signalled\t%d\t\t\t\t—\t\n", s.breaches()-signalled0)
	}
	fmt.Fprintf(tw, "  workflows: every KILLED state on %s\t%d\t\t\t\t%s\t\n", domain.TopicState, nPublished, sec(published.Sub(t0)))
	fmt.Fprintf(tw, "  router: every scope DROPping orders\t%d\t\t\t\t%s\t\n", o.mass, sec(mass))
	if delivered >= 0 {
		fmt.Fprintf(tw, "  breach signals the detector delivered meanwhile\t%d\t\t\t\t\t\n", delivered)
	}
	tw.Flush()
	fmt.Fprintln(out)
	printHops(out, fmt.Sprintf("breach order → first DROP, %d incidents one after another", len(incidents)), len(incidents), oneHops)
	fmt.Fprintln(out)
	printHops(out, fmt.Sprintf("%d scopes at once", o.mass), o.mass, massHops)
	if fl.n > 0 {
		fmt.Fprintln(out)
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "Temporal floor, same server, same run\tn\tp50\tp99\t")
		fmt.Fprintf(tw, "  SignalWithStart → its local activity runs (ms)\t%d\t%s\t%s\t\n", fl.n, ms(fl.p50), ms(fl.p99))
		fmt.Fprintf(tw, "  %d at once, until the last one's ran (s)\t%d\t\t%s\t\n", fl.massN, fl.massN, sec(fl.mass))
		tw.Flush()
	}
	// Externally the other processes are not ours to read.
	if len(cpu0) > 0 && len(cpu1) > 0 && !o.external {
		fmt.Fprintf(out, "CPU during the mass kill (%s s wall, %d cores):", sec(mass), runtime.NumCPU())
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range cpu1 {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(out, " %s %.2f s", name, (cpu1[name] - cpu0[name]).Seconds())
		}
		fmt.Fprintln(out)
	}
	line := fmt.Sprintf("kill_p50_ms=%s kill_p99_ms=%s mass_kill_%d_s=%.2f", ms(pct(0.5)), ms(pct(0.99)), o.mass, mass.Seconds())
	if fl.n > 0 && fl.p99 > 0 && fl.mass > 0 {
		line += fmt.Sprintf(" floor_p50_ms=%s floor_p99_ms=%s floor_mass_%d_s=%.2f kill_p99_ratio=%.2f mass_kill_ratio=%.2f",
			ms(fl.p50), ms(fl.p99), fl.massN, fl.mass.Seconds(), float64(pct(0.99))/float64(fl.p99), float64(mass)/float64(fl.mass))
	}
	if delivered >= 0 {
		line += fmt.Sprintf(" mass_breach_signals=%d", delivered)
	}
	line += hopFields("hop_", oneHops)
	fmt.Fprintln(out, line)
	return nil
}

// waitDecided waits until the bench has read n audit records in all.
func waitDecided(ctx context.Context, drops *firstSeen, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for drops.count() < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the router decided %d orders too few within %v", n-drops.count(), limit)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// watchTopics reads audit.v1 and killswitch.state.v1 from their ends and
// notes each account's first DROP and first KILLED state.
func watchTopics(ctx context.Context, kc kafka.Config, drops, killed *firstSeen, marks *hopMarks) error {
	cl, err := kc.NewClient(
		kgo.ConsumeTopics(domain.TopicAudit, domain.TopicState, domain.TopicRiskSignals),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(10*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("bench watcher: %w", err)
	}
	go func() {
		defer cl.Close()
		var a domain.AuditRecord
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			drops.mu.Lock()
			killed.mu.Lock()
			marks.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				switch r.Topic {
				case domain.TopicAudit:
					drops.n++
					a = domain.AuditRecord{}
					if json.Unmarshal(r.Value, &a) == nil && a.Decision == domain.DecisionDrop {
						drops.note(a.AccountID, now)
						noteFirst(marks.drop, a.AccountID, time.UnixMilli(a.TS))
					}
				case domain.TopicState:
					killed.n++
					if st, err := domain.DecodeState(r.Value); err == nil && st.Status == domain.StatusKilled {
						killed.note(st.Scope.ID(), now)
						noteFirst(marks.state, st.Scope.ID(), r.Timestamp)
					}
				case domain.TopicRiskSignals:
					var rs domain.RiskSignal
					if json.Unmarshal(r.Value, &rs) == nil && len(rs.Breaches) > 0 && rs.Scope.Type() == domain.ScopeAccount {
						noteFirst(marks.risk, rs.Scope.ID(), r.Timestamp)
					}
				}
			})
			marks.mu.Unlock()
			killed.mu.Unlock()
			drops.mu.Unlock()
		}
	}()
	// Make sure the consumer has its starting offsets before anything is produced.
	time.Sleep(500 * time.Millisecond)
	return nil
}

// breachesSignalled is the number of breach signals the detector has
// delivered (its riskgate_detector_signal_duration_seconds{kind="breach"} count).
func breachesSignalled(g prometheus.Gatherer) int {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "riskgate_detector_signal_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == "breach" {
					return int(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return 0
}

// watchSignals polls the detectors' breach count until want breaches have
// been signalled; the returned function reports when that happened. With
// no count it never does.
func watchSignals(ctx context.Context, count func() int, want int) func() (time.Time, bool) {
	var (
		mu sync.Mutex
		at time.Time
	)
	go func() {
		for count != nil && ctx.Err() == nil {
			if count() >= want {
				mu.Lock()
				at = time.Now()
				mu.Unlock()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		return at, !at.IsZero()
	}
}

// probeUntilDropped sends one order for every account not yet DROPped, round
// after round, until each account has a DROP; it returns the time the last
// DROP was read. A round waits at least every, and long enough to keep the
// probes under rate orders a second: probes are load on the very stack being
// measured, and as accounts are DROPped the rounds get faster.
func probeUntilDropped(ctx context.Context, prod *kgo.Client, w *firstSeen, accounts []string,
	order func(string) *kgo.Record, every time.Duration, rate int, limit time.Duration) (time.Time, error) {
	pending := slices.Clone(accounts)
	var last time.Time
	deadline := time.Now().Add(limit)
	for len(pending) > 0 {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("%d of %d accounts not DROPped within %v", len(pending), len(accounts), limit)
		}
		next := pending[:0]
		sent := 0
		for _, a := range pending {
			if t, ok := w.seen(a); ok {
				if t.After(last) {
					last = t
				}
				continue
			}
			next = append(next, a)
			prod.Produce(ctx, order(a), nil)
			sent++
		}
		pending = next
		if sent == 0 {
			break
		}
		wait := every
		if rate > 0 {
			wait = max(wait, time.Duration(sent)*time.Second/time.Duration(rate))
		}
		time.Sleep(wait)
	}
	return last, nil
}

// cpuTimes returns the CPU time (user + system) used so far by this process
// and by each of its child processes (the Temporal dev server), by command
// name, from /proc. It is empty where /proc is not available.
func cpuTimes() map[string]time.Duration {
	out := map[string]time.Duration{}
	self := os.Getpid()
	if name, d, ok := procCPU(self); ok {
		out[name] = d
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", self))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if name, d, ok := procCPU(pid); ok {
				out[name] += d
			}
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times on Linux.
const clockTicks = 100

func procCPU(pid int) (string, time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// The command name is in parentheses and may hold spaces.
	open, end := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(string(b[end+1:]))
	// After the name: state is field 3 of stat, utime 14 and stime 15.
	if len(fields) < 13 {
		return "", 0, false
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return string(b[open+1 : end]), time.Duration(ut+st) * time.Second / clockTicks, true
}
