package main

// The kill path of bench killswitch hop by hop: for every measured incident,
// when each hop was done, read from what the hops leave behind — the breach
// risk signal's record time (the detector evaluated the crossing order), the
// run's history (the breach recorded by Temporal, its first workflow task
// started), the KILLED state's record time (published), the first DROP's
// audit ts (the router decided it) and the time the bench read that DROP.
// Kafka record times and audit ts are in milliseconds, so a hop is known to
// about a millisecond; history times to the microsecond.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// hopMarks are the per-account times read from the topics.
type hopMarks struct {
	mu sync.Mutex
	// risk is the record time of the account's first risk signal with a
	// breach; state of its first KILLED state; drop the audit ts of its
	// first DROP.
	risk, state, drop map[string]time.Time
}

func newHopMarks() *hopMarks {
	return &hopMarks{risk: map[string]time.Time{}, state: map[string]time.Time{}, drop: map[string]time.Time{}}
}

func noteFirst(m map[string]time.Time, account string, t time.Time) {
	if _, ok := m[account]; !ok {
		m[account] = t
	}
}

// hopNames are the hops in path order; each ends at the mark of its name.
var hopNames = []string{
	"order produced → detector evaluated it",
	"→ breach recorded by Temporal",
	"→ workflow task started",
	"→ KILLED state published",
	"→ router decided the first DROP",
	"→ first DROP read from audit.v1",
}

// hopKeys name the hops in the summary line.
var hopKeys = []string{"detect", "deliver", "task", "publish", "route", "audit"}

// incidentHops is one incident's hop durations; ok is false where a mark is
// missing (its run's history could not be read, say).
type incidentHops struct {
	d  [6]time.Duration
	ok bool
	// breaches is how many breach signals reached the run (its start's and
	// every signal's).
	breaches  int
	lostTasks int
}

// runMarks are what a run's history says of its incident.
type runMarks struct {
	recorded, taskStarted time.Time
	breaches              int
	// lostTasks counts workflow tasks that timed out or failed: each
	// costs the run a retry.
	lostTasks int
}

// readRun reads the scope's latest run's history: when the first breach was
// recorded (the start of a run started with it, or its first breach
// signal), when the first workflow task after it started, and how many
// breach signals the run received.
func readRun(ctx context.Context, c client.Client, scope domain.Scope) (runMarks, error) {
	var m runMarks
	it := c.GetWorkflowHistory(ctx, scope.WorkflowID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return m, fmt.Errorf("history of %s: %w", scope.WorkflowID(), err)
		}
		t := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			a := ev.GetWorkflowExecutionStartedEventAttributes()
			if a.GetInput() != nil && len(a.GetInput().GetPayloads()) > 0 && hasBreach(a.GetInput().GetPayloads()[0].GetData()) {
				m.breaches++
				if m.recorded.IsZero() {
					m.recorded = t
				}
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() == workflows.SignalBreach {
				m.breaches++
				if m.recorded.IsZero() {
					m.recorded = t
				}
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
			m.lostTasks++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			// The start's own task may begin before the breach signal
			// that came with it is recorded (same instant): take the
			// first task started at or after the breach.
			if !m.recorded.IsZero() && m.taskStarted.IsZero() && !t.Before(m.recorded) {
				m.taskStarted = t
			}
		}
	}
	if m.recorded.IsZero() || m.taskStarted.IsZero() {
		return m, errors.New("history of " + scope.WorkflowID() + " shows no breach and task after it")
	}
	return m, nil
}

// hasBreach says whether a run's input carries a breach (workflows.Input).
func hasBreach(input []byte) bool {
	var in workflows.Input
	return json.Unmarshal(input, &in) == nil && in.Breach != nil
}

// measureHops computes each account's hops from produced (when its
// crossing order was produced) and read (when the bench read its first
// DROP). Histories are read a few at a time; without a Temporal client the
// two Temporal marks are missing and every incident is incomplete.
func measureHops(ctx context.Context, c client.Client, marks *hopMarks, accounts []string,
	produced func(string) time.Time, read func(string) time.Time) []incidentHops {
	out := make([]incidentHops, len(accounts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, a := range accounts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var rm runMarks
			var err error
			if c == nil {
				err = errors.New("no Temporal client")
			} else {
				rm, err = readRun(ctx, c, domain.Scope("ACCOUNT:"+a))
			}
			marks.mu.Lock()
			risk, rok := marks.risk[a]
			state, sok := marks.state[a]
			drop, dok := marks.drop[a]
			marks.mu.Unlock()
			at := [7]time.Time{produced(a), risk, rm.recorded, rm.taskStarted, state, drop, read(a)}
			h := incidentHops{ok: err == nil && rok && sok && dok, breaches: rm.breaches, lostTasks: rm.lostTasks}
			for j := range h.d {
				h.d[j] = at[j+1].Sub(at[j])
			}
			out[i] = h
		})
	}
	wg.Wait()
	return out
}

// hopStats are the p50 and p99 of each hop over the complete incidents.
type hopStats struct {
	n        int
	p50, p99 [6]time.Duration
	// breaches is the number of breach signals the runs received in all,
	// lostTasks of workflow tasks timed out or failed.
	breaches, lostTasks int
}

func summarizeHops(hs []incidentHops) hopStats {
	var s hopStats
	cols := make([][]time.Duration, len(hopNames))
	for _, h := range hs {
		s.breaches += h.breaches
		s.lostTasks += h.lostTasks
		if !h.ok {
			continue
		}
		s.n++
		for j, d := range h.d {
			cols[j] = append(cols[j], d)
		}
	}
	for j, col := range cols {
		slices.Sort(col)
		s.p50[j], s.p99[j] = pctOf(col, 0.5), pctOf(col, 0.99)
	}
	return s
}

// pctOf is the p-quantile of sorted (nearest rank, as the kill latency).
func pctOf(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// printHops writes the breakdown table of one measurement.
func printHops(out io.Writer, title string, total int, s hopStats) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s, per hop (ms)\tn\tp50\tp99\t\n", title)
	for j, name := range hopNames {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t\n", name, s.n, msStr(s.p50[j]), msStr(s.p99[j]))
	}
	fmt.Fprintf(tw, "  breach signals received by the runs (%d incidents)\t%d\t\t\t\n", total, s.breaches)
	fmt.Fprintf(tw, "  workflow tasks timed out or failed\t%d\t\t\t\n", s.lostTasks)
	tw.Flush()
	if s.n < total {
		fmt.Fprintf(out, "  (%d of %d incidents had every mark; the others are left out)\n", s.n, total)
	}
}

// hopFields is the breakdown as key=value pairs of the summary line.
func hopFields(prefix string, s hopStats) string {
	var b []byte
	for j, k := range hopKeys {
		b = fmt.Appendf(b, " %s%s_p50_ms=%s %s%s_p99_ms=%s", prefix, k, msStr(s.p50[j]), prefix, k, msStr(s.p99[j]))
	}
	return string(b)
}

func msStr(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// writeIncidentsCSV writes one row per incident, in the order they ran:
// the account, when its breaching order was produced (RFC 3339, ns), each
// hop and the end to end time in ms (a hop whose mark is missing is empty),
// so that a slow incident can be set beside what else happened then (a
// collection in GODEBUG=gctrace=1, another process's log).
func writeIncidentsCSV(path string, accounts []string, produced map[string]time.Time, read func(string) time.Time, hops []incidentHops) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("incidents csv: %w", err)
	}
	w := csv.NewWriter(f)
	head := []string{"account", "produced_at"}
	for _, k := range hopKeys {
		head = append(head, k+"_ms")
	}
	w.Write(append(head, "end_to_end_ms"))
	for i, a := range accounts {
		row := []string{a, produced[a].UTC().Format(time.RFC3339Nano)}
		for _, d := range hops[i].d {
			if hops[i].ok {
				row = append(row, msStr(d))
			} else {
				row = append(row, "")
			}
		}
		w.Write(append(row, msStr(read(a).Sub(produced[a]))))
	}
	w.Flush()
	if err := errors.Join(w.Error(), f.Close()); err != nil {
		return fmt.Errorf("incidents csv: %w", err)
	}
	return nil
}
