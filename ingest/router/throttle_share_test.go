package router

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/riskgate/riskgate/domain"
)

// instance is one simulated router of a group: its table and the orders.v1
// partitions it owns.
type instance struct {
	tab   *Table
	owned map[int]bool
}

// group simulates routers sharing orders.v1 by partition, each holding the
// same kill state, on a fake clock.
type group struct {
	parts     int
	instances []*instance
}

func newGroup(parts int, owners [][]int, start time.Time, states ...domain.State) *group {
	g := &group{parts: parts}
	for _, ps := range owners {
		in := &instance{tab: NewTable(func() time.Time { return start }), owned: map[int]bool{}}
		for _, st := range states {
			in.tab.ApplyState(st)
		}
		g.instances = append(g.instances, in)
		g.assign(in, ps...)
	}
	return g
}

func (g *group) assign(in *instance, parts ...int) {
	for _, p := range parts {
		for _, other := range g.instances {
			delete(other.owned, p)
			other.tab.SetPartitionShare(len(other.owned), g.parts)
		}
		in.owned[p] = true
	}
	in.tab.SetPartitionShare(len(in.owned), g.parts)
}

// decide routes o, read from partition p, to the instance owning p.
func (g *group) decide(t *testing.T, p int, o *domain.Order, now time.Time) (*instance, domain.Decision) {
	t.Helper()
	for _, in := range g.instances {
		if in.owned[p] {
			return in, in.tab.Decide(o, now.UnixNano(), false).Decision
		}
	}
	t.Fatalf("partition %d has no owner", p)
	return nil, ""
}

func throttled(scope domain.Scope, rate float64) domain.State {
	st := state(scope, domain.StatusThrottled, 1)
	st.MaxRatePerSecond = rate
	return st
}

// TestThrottleAcrossInstances offers 50 orders/s for 10 s, spread evenly
// over the partitions, to a group of routers and checks that the group
// together ALLOWs what one router would for a 10/s throttle.
func TestThrottleAcrossInstances(t *testing.T) {
	const (
		parts   = 6
		offered = 50 // per second
		seconds = 10
		rate    = 10
	)
	tests := []struct {
		name   string
		owners [][]int
		// takeover: at half time, the first instance takes every
		// partition (the other one left the group).
		takeover bool
	}{
		{name: "two instances, half each", owners: [][]int{{0, 1, 2}, {3, 4, 5}}},
		{name: "two instances, one third and two thirds", owners: [][]int{{0, 1}, {2, 3, 4, 5}}},
		{name: "three instances", owners: [][]int{{0, 1}, {2, 3}, {4, 5}}},
		{name: "one instance", owners: [][]int{{0, 1, 2, 3, 4, 5}}},
		{name: "one instance takes over half way", owners: [][]int{{0, 1, 2}, {3, 4, 5}}, takeover: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1_700_000_000, 0)
			g := newGroup(parts, tt.owners, start, throttled("SYMBOL:X", rate))
			step := time.Second / offered
			allowed := 0
			perInstance := map[*instance]int{}
			for i := range offered * seconds {
				if tt.takeover && i == offered*seconds/2 {
					g.assign(g.instances[0], 0, 1, 2, 3, 4, 5)
				}
				o := order("A1", "X", "")
				in, d := g.decide(t, i%parts, &o, start.Add(time.Duration(i)*step))
				switch d {
				case domain.DecisionAllow:
					allowed++
					perInstance[in]++
				case domain.DecisionThrottle:
				default:
					t.Fatalf("unexpected %s", d)
				}
			}
			if want := rate * seconds; allowed < want-15 || allowed > want+15 {
				t.Errorf("the group allowed %d of %d, want %d ± 15 (per instance: %v)", allowed, offered*seconds, want, perInstance)
			}
		})
	}
}

// TestAccountThrottleAcrossInstances checks that an ACCOUNT throttle keeps
// its full rate on the instance owning the account's partition, since every
// order of the account reaches that instance, while a SYMBOL throttle on
// the same instance runs at its share.
func TestAccountThrottleAcrossInstances(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	g := newGroup(6, [][]int{{0, 1, 2}, {3, 4, 5}}, start, throttled("ACCOUNT:A1", 10), throttled("SYMBOL:Y", 10))
	const accountPartition = 4
	owner := g.instances[1]
	step := time.Second / 50
	acct, sym := 0, 0
	for i := range 50 * 10 {
		now := start.Add(time.Duration(i) * step)
		o := order("A1", "X", "")
		in, d := g.decide(t, accountPartition, &o, now)
		if in != owner {
			t.Fatalf("account order decided by the wrong instance")
		}
		if d == domain.DecisionAllow {
			acct++
		}
		// Another account's orders of symbol Y on the same partition.
		o = order("B2", "Y", "")
		if _, d := g.decide(t, accountPartition, &o, now); d == domain.DecisionAllow {
			sym++
		}
	}
	if acct < 90 || acct > 110 {
		t.Errorf("ACCOUNT:A1 at 10/s allowed %d in 10 s on its owner, want 100 ± 10", acct)
	}
	// All of symbol Y's flow sits on one instance, which has half the
	// rate: the split is approximate when the flow is not spread.
	if sym < 40 || sym > 60 {
		t.Errorf("SYMBOL:Y at 10/s allowed %d in 10 s on an instance with half the partitions, want 50 ± 10", sym)
	}
}

func TestPartitionShareScalesBurst(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tab := NewTable(func() time.Time { return now })
	tab.ApplyState(throttled("SYMBOL:X", 10))
	tab.ApplyState(throttled("STRATEGY:S", 0.5))
	tab.SetPartitionShare(1, 4)
	decideN := func(o domain.Order, n int) (allowed int) {
		for range n {
			if tab.Decide(&o, now.UnixNano(), false).Decision == domain.DecisionAllow {
				allowed++
			}
		}
		return allowed
	}
	now = now.Add(time.Minute)
	if got := decideN(order("A1", "X", ""), 50); got != 2 {
		t.Errorf("a quarter of a 10/s burst allowed %d, want 2 (2.5 tokens)", got)
	}
	if got := decideN(order("A1", "Z", "S"), 50); got != 1 {
		t.Errorf("a quarter of a 0.5/s burst allowed %d, want 1 (at least one token)", got)
	}
	// Taking all partitions restores the full burst after a refill.
	tab.SetPartitionShare(4, 4)
	now = now.Add(time.Minute)
	if got := decideN(order("A1", "X", ""), 50); got != 10 {
		t.Errorf("full share burst allowed %d, want 10", got)
	}
	// A smaller share caps the refill at its smaller burst.
	tab.SetPartitionShare(1, 2)
	now = now.Add(time.Minute)
	if got := decideN(order("A1", "X", ""), 50); got != 5 {
		t.Errorf("half share burst allowed %d, want 5", got)
	}
	for _, c := range []struct{ owned, total int }{{0, 0}, {3, -1}} {
		tab.SetPartitionShare(c.owned, c.total)
		if s := tab.PartitionShare(); s != 1 {
			t.Errorf("SetPartitionShare(%d, %d): share %v, want 1", c.owned, c.total, s)
		}
	}
}

// TestRouterPartitionShare checks the router's bookkeeping of its
// partitions through assigns and revokes.
func TestRouterPartitionShare(t *testing.T) {
	r, err := New(Config{Registerer: prometheus.NewRegistry(), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	r.nparts = 6
	steps := []struct {
		parts    []int32
		assigned bool
		want     float64
	}{
		{[]int32{0, 1, 2}, true, 0.5},
		{[]int32{1}, false, 2.0 / 6},
		{[]int32{3, 4, 5, 1}, true, 1},
		{[]int32{7}, true, 7.0 / 8}, // orders.v1 grew to 8 partitions
		{nil, false, 0},
	}
	for _, s := range steps {
		r.setOwned(s.parts, s.assigned)
		if got := r.Table().PartitionShare(); got != s.want {
			t.Errorf("after assigned=%v %v: share %v, want %v", s.assigned, s.parts, got, s.want)
		}
	}
}

// TestRouterOwnsAllPartitionsAlone checks that a lone router in its group
// ends up enforcing throttles at their full rate.
func TestRouterOwnsAllPartitionsAlone(t *testing.T) {
	kc := newCluster(t)
	r := startRouter(t, Config{Kafka: kc})
	produce(t, kc, orderRecord(t, newOrder("share-1", "A1", "X")))
	deadline := time.Now().Add(15 * time.Second)
	for r.Table().PartitionShare() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("share %v after 15s, want 1", r.Table().PartitionShare())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
