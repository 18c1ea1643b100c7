package detector

import (
	"context"
	"encoding/json"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/domain"
)

// sink connects the engine to Kafka and the dispatcher. It runs under d.mu.
type sink struct{ d *Detector }

// Breach logs and counts the breach and queues its signal.
func (s sink) Breach(sig domain.BreachSignal) {
	d := s.d
	d.m.breaches.WithLabelValues(sig.Rule).Inc()
	d.log.Warn("breach", "scope", string(sig.Scope), "corr_id", sig.CorrID, "rule", sig.Rule,
		"metric", sig.Metric, "value", sig.Value, "threshold", sig.Threshold, "window", sig.Window, "action", string(sig.Action))
	d.disp.enqueue(string(sig.Scope), signalJob{breach: &sig, consumed: d.consumed})
}

// Normal logs and counts the normal and queues its signal.
func (s sink) Normal(sig domain.NormalSignal) {
	d := s.d
	d.m.normals.Inc()
	d.log.Info("scope normal", "scope", string(sig.Scope), "corr_id", sig.CmdID)
	d.disp.enqueue(string(sig.Scope), signalJob{normal: &sig, consumed: d.consumed})
}

// Delivered implements DeliveryReporter: the dispatcher knows which
// breaches Temporal has accepted.
func (s sink) Delivered(scope domain.Scope, cmdID string) bool {
	return s.d.disp.Delivered(scope, cmdID)
}

// Risk produces the risk signal to risk_signals.v1.
func (s sink) Risk(rs *domain.RiskSignal) {
	d := s.d
	if d.cl == nil {
		return
	}
	b, err := json.Marshal(rs)
	if err != nil {
		d.log.Error("encode risk signal", "scope", string(rs.Scope), "err", err)
		return
	}
	d.m.riskSignals.Inc()
	// TryProduce: this runs under the detector's lock, and evaluation must
	// not wait for Kafka to drain a full buffer; a risk signal that finds it
	// full is dropped and counted (the next one follows within a second).
	// TryProduce never waits, so no context bounds it; closing the client
	// at the end of Run fails what is still buffered.
	d.cl.TryProduce(context.Background(), &kgo.Record{Topic: domain.TopicRiskSignals, Key: []byte(rs.Scope), Value: b}, d.produced)
}
