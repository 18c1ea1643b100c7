package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// Escalation of pre-trade limit blocks (DESIGN §9). The router BLOCKs the
// order that would cross a limit and writes a limit-breach record to
// risk_signals.v1 (at most one per scope per second, each counting the
// scope's BLOCKs of the last minute). A scope that keeps running into its
// limits is an incident for the kill switch: the detector reads those
// records, in a consumer group of its own, and sends the scope's workflow a
// breach with trigger limit, whose kill does not auto-unkill (RTS 6 15(3):
// a designated person re-enables). Temporal stays off the router's path.

// DefaultEscalateBlocks is Config.EscalateBlocks's default.
const DefaultEscalateBlocks = 10

// limitEscalationRule names the breach an escalation sends.
const limitEscalationRule = "limit_escalation"

// escalationQuiet is how long a scope is not escalated again after an
// escalation: the router's block window, so one burst is one incident.
const escalationQuiet = 60 * time.Second

// limitEscalator decides which limit-breach records escalate. It is used
// by one goroutine.
type limitEscalator struct {
	threshold int64
	last      map[domain.Scope]int64 // ts of the scope's last escalation
}

func newLimitEscalator(threshold int) *limitEscalator {
	return &limitEscalator{threshold: int64(threshold), last: make(map[domain.Scope]int64)}
}

// observe returns the breach that escalates rs, if it does: a record of a
// credit_limit BLOCK, or one whose scope had at least threshold BLOCKs in
// the router's window, and no escalation of that scope in the last minute
// of record time.
func (e *limitEscalator) observe(rs *domain.RiskSignal) (domain.BreachSignal, bool) {
	var b *domain.Breach
	for i := range rs.Breaches {
		if strings.HasPrefix(rs.Breaches[i].Rule, "limit:") {
			b = &rs.Breaches[i]
			break
		}
	}
	if b == nil {
		return domain.BreachSignal{}, false
	}
	if _, err := domain.ParseScope(string(rs.Scope)); err != nil {
		return domain.BreachSignal{}, false
	}
	credit := b.Metric == "credit_limit"
	if !credit && rs.Blocks < e.threshold {
		return domain.BreachSignal{}, false
	}
	if at, ok := e.last[rs.Scope]; ok && rs.TS < at+escalationQuiet.Milliseconds() {
		return domain.BreachSignal{}, false
	}
	e.forgetBefore(rs.TS - escalationQuiet.Milliseconds())
	e.last[rs.Scope] = rs.TS
	window := time.Duration(rs.BlocksWindowMS) * time.Millisecond
	if window <= 0 {
		window = escalationQuiet
	}
	sig := domain.BreachSignal{
		CmdID: fmt.Sprintf("limit-%s-%d", rs.Scope, rs.TS), TS: rs.TS, Scope: rs.Scope,
		Rule: limitEscalationRule, Metric: "blocks", Value: float64(rs.Blocks), Threshold: float64(e.threshold),
		Window: window.String(), Action: domain.ActionKill, Trigger: domain.TriggerLimit,
		Reason: fmt.Sprintf("%d pre-trade limit BLOCKs in %s (last: %s %v over %v)", rs.Blocks, window, b.Metric, b.Value, b.Threshold),
	}
	if credit {
		sig.Metric, sig.Value, sig.Threshold = "credit_limit", b.Value, b.Threshold
		sig.Reason = fmt.Sprintf("an order BLOCKed by the credit limit: gross notional of the day %v over %v", b.Value, b.Threshold)
	}
	sig.CorrID = sig.CmdID
	return sig, true
}

// forgetBefore drops escalations older than ts, keeping the map bounded
// by the scopes escalated in the last minute.
func (e *limitEscalator) forgetBefore(ts int64) {
	if len(e.last) < 1024 {
		return
	}
	for s, at := range e.last {
		if at < ts {
			delete(e.last, s)
		}
	}
}

// watchLimits follows the routers' limit-breach records until ctx ends,
// reconnecting after an error.
func (d *Detector) watchLimits(ctx context.Context) {
	if d.cfg.EscalateBlocks < 0 {
		return
	}
	esc := newLimitEscalator(d.cfg.EscalateBlocks)
	for ctx.Err() == nil {
		err := d.followLimitBreaches(ctx, esc)
		if ctx.Err() != nil {
			return
		}
		d.log.Error("following limit-breach records failed; reading them again", "topic", domain.TopicRiskSignals, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// followLimitBreaches reads risk_signals.v1 (committed records only: a
// router's aborted transaction never escalates) in the group
// Config.Group+"-limits", from a minute back when the group is new.
func (d *Detector) followLimitBreaches(ctx context.Context, esc *limitEscalator) error {
	cl, err := d.cfg.Kafka.NewClient(
		kgo.ConsumerGroup(d.cfg.Group+"-limits"),
		kgo.ConsumeTopics(domain.TopicRiskSignals),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(d.cfg.Now().Add(-escalationQuiet).UnixMilli())),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("limit-breach consumer: %w", err)
	}
	defer cl.Close()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			d.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			var rs domain.RiskSignal
			if json.Unmarshal(r.Value, &rs) != nil {
				return // not ours to judge: the detector's and the routers' records only
			}
			sig, ok := esc.observe(&rs)
			if !ok {
				return
			}
			d.m.breaches.WithLabelValues(sig.Rule).Inc()
			d.log.Warn("limit blocks escalated", "scope", string(sig.Scope), "corr_id", sig.CorrID, "blocks", rs.Blocks,
				"metric", sig.Metric, "reason", sig.Reason)
			d.disp.enqueue(string(sig.Scope), signalJob{breach: &sig, consumed: time.Now()})
		})
	}
}
