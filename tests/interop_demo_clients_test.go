package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
)

// systemPython is Debian's interpreter, where python3-kafka installs.
const systemPython = "/usr/bin/python3"

// TestDemoClientsReadTheStack checks that the original demo's clients read
// what the dev stack writes with its default settings: kafka-python 2.0.2
// without codec extras (franz-go's own default, snappy, would fail it with
// UnsupportedCodecError) and kcat, on librdkafka. An order is allowed, an
// operator kills its account, the next order is dropped; both clients then
// read killswitch.state.v1 and audit.v1 from the beginning and must find the
// kill and both decisions, in the demo's field names.
func TestDemoClientsReadTheStack(t *testing.T) {
	s := startStack(t, devstack.Options{})
	reader := readTopics(t, s, domain.TopicAudit)
	cl := producer(t, s)
	const account = "demo-7"
	scope := domain.Scope("ACCOUNT:" + account)

	allowed := order(account, "AAPL")
	produceOrder(t, cl, allowed)
	if a := reader.audit(t, allowed.OrderID); a.Decision != domain.DecisionAllow {
		t.Fatalf("order before the kill: %s (%s), want ALLOW", a.Decision, a.Reason)
	}
	status, _, body := httpDo(t, "POST", s.APIURL+"/v1/kill", s.Token, map[string]any{
		"scope": scope, "reason": "interop check", "operator": "dev",
	})
	if status != 200 {
		t.Fatalf("kill %s: %d %s", scope, status, body)
	}
	var killed domain.State
	eventually(t, 30*time.Second, scope.String()+" KILLED in the API's table", func() bool {
		st, ok := s.States.Get(scope)
		killed = st
		return ok && st.Status == domain.StatusKilled
	})
	dropped := reader.decided(t, cl, domain.DecisionDrop, func() domain.Order { return order(account, "MSFT") })

	// check asserts what a client read: the kill as the scope's state, and
	// exactly one audit record per order with the decision and its cause.
	check := func(t *testing.T, states []domain.State, audits []domain.AuditRecord) {
		t.Helper()
		var sawKill bool
		for _, st := range states {
			if st.Scope == scope && st.Status == domain.StatusKilled && st.CorrID == killed.CorrID &&
				st.Reason == "interop check" && st.Version == killed.Version {
				sawKill = true
			}
		}
		if !sawKill {
			t.Errorf("no KILLED state for %s with corr_id %s among %d states: %+v", scope, killed.CorrID, len(states), states)
		}
		byOrder := map[string][]domain.AuditRecord{}
		for _, a := range audits {
			byOrder[a.OrderID] = append(byOrder[a.OrderID], a)
		}
		if got := byOrder[allowed.OrderID]; len(got) != 1 || got[0].Decision != domain.DecisionAllow ||
			got[0].AccountID != account || got[0].Symbol != "AAPL" {
			t.Errorf("audit of %s: %+v, want one ALLOW for %s on AAPL", allowed.OrderID, got, account)
		}
		if got := byOrder[dropped.OrderID]; len(got) != 1 || got[0].Decision != domain.DecisionDrop ||
			got[0].CorrID != killed.CorrID || got[0].KillswitchStatus != domain.StatusKilled {
			t.Errorf("audit of %s: %+v, want one DROP with the kill's corr_id %s", dropped.OrderID, got, killed.CorrID)
		}
	}

	t.Run("kafka-python", func(t *testing.T) {
		if out, err := exec.Command(systemPython, "-c", "import kafka").CombinedOutput(); err != nil {
			t.Skipf("kafka-python not installed for %s (Debian package python3-kafka; .ci/run installs it): %v %s", systemPython, err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, systemPython, "testdata/kafka_python_read.py",
			s.Brokers[0], domain.TopicState, domain.TopicAudit)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kafka-python reader: %v\n%s", err, stderr.Bytes())
		}
		var states []domain.State
		var audits []domain.AuditRecord
		var summary struct {
			Done      bool   `json:"done"`
			Markers   int    `json:"markers"`
			Isolation string `json:"isolation"`
			Version   string `json:"kafka_python"`
		}
		for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
			var rec struct {
				Topic string          `json:"topic"`
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("reader printed %q: %v", line, err)
			}
			var err error
			switch rec.Topic {
			case domain.TopicState:
				var st domain.State
				err = json.Unmarshal(rec.Value, &st)
				states = append(states, st)
			case domain.TopicAudit:
				var a domain.AuditRecord
				err = json.Unmarshal(rec.Value, &a)
				audits = append(audits, a)
			default:
				err = json.Unmarshal(line, &summary)
			}
			if err != nil {
				t.Fatalf("reader printed %q: %v", line, err)
			}
		}
		if !summary.Done {
			t.Fatalf("reader did not finish:\n%s\n%s", stdout.Bytes(), stderr.Bytes())
		}
		t.Logf("kafka-python %s, %s: %d states, %d audit records, %d transaction markers",
			summary.Version, summary.Isolation, len(states), len(audits), summary.Markers)
		check(t, states, audits)
	})

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat not installed (Debian package kcat; .ci/run installs it)")
		}
		read := func(topic string) [][]byte {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, kcat, "-C", "-b", s.Brokers[0], "-t", topic, "-o", "beginning", "-e", "-q",
				"-X", "isolation.level=read_committed").Output()
			if err != nil {
				t.Fatalf("kcat -C -t %s: %v", topic, err)
			}
			return bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		}
		var states []domain.State
		for _, line := range read(domain.TopicState) {
			var st domain.State
			if err := json.Unmarshal(line, &st); err != nil {
				t.Fatalf("kcat read a state that is not JSON: %q: %v", line, err)
			}
			states = append(states, st)
		}
		var audits []domain.AuditRecord
		for _, line := range read(domain.TopicAudit) {
			var a domain.AuditRecord
			if err := json.Unmarshal(line, &a); err != nil {
				t.Fatalf("kcat read an audit record that is not JSON: %q: %v", line, err)
			}
			audits = append(audits, a)
		}
		check(t, states, audits)
	})
}
