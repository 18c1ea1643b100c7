package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/index"
	"github.com/riskgate/riskgate/ingest/limits"
	"github.com/riskgate/riskgate/workflows"
)

// Usage of the hot scopes against their limits, for the dashboard's usage
// panel. Where it comes from, and what that means:
//
//   - window usage is the detector's latest window metrics of the scope on
//     risk_signals.v1 (one record a second per active scope, through the
//     audit index): the orders and notional *submitted* in the window,
//     blocked ones included. The router's own window counts (allowed
//     orders only) live in its exactly-once changelog, split by partition
//     and in the router's private encoding; reading them here would tie the
//     API to the router's internals. Submitted ≥ allowed, so the panel errs
//     towards warning early.
//   - credit usage is the router's own figure, from its credit warnings
//     (50, 75 and 90 % of credit_limit) and credit-limit blocks on the same
//     topic, since the start of the trading day: exact at each crossing,
//     and the percentage shown is the highest crossed.
//   - the limits are the scope's effective limits from its Limits workflow
//     when it has one, else its type's defaults from the limits file.

// LimitsUsage is the body of GET /v1/limits/usage.
type LimitsUsage struct {
	Scopes []ScopeUsage `json:"scopes"`
	// Source says where the figures come from (see ScopeUsage).
	Source   string   `json:"source"`
	Warnings []string `json:"warnings,omitempty"`
}

// ScopeUsage is one scope's usage against its limits. A percentage is
// present only where both the usage and its limit are known.
type ScopeUsage struct {
	Scope domain.Scope `json:"scope"`
	// TS is when the detector measured the window (Unix milliseconds).
	TS            int64    `json:"ts,omitempty"`
	WindowSeconds int64    `json:"window_seconds,omitempty"`
	Orders        int64    `json:"orders"`
	MaxOrders     int64    `json:"max_orders,omitempty"`
	OrdersPct     *float64 `json:"orders_pct,omitempty"`
	Notional      float64  `json:"notional"`
	MaxNotional   float64  `json:"max_notional,omitempty"`
	NotionalPct   *float64 `json:"notional_pct,omitempty"`
	// CreditUsed is the account's gross notional of the day at its last
	// credit warning or block; CreditPct the highest warning crossed.
	CreditUsed  float64  `json:"credit_used,omitempty"`
	CreditLimit float64  `json:"credit_limit,omitempty"`
	CreditPct   *float64 `json:"credit_pct,omitempty"`
	// LimitsState is the LimitState of the scope's limits (DEFAULT, …).
	LimitsState string `json:"limits_state"`
	// Peak is the highest of the percentages, what the panel sorts by.
	Peak float64 `json:"peak"`
}

const usageSource = "window: the detector's latest window of submitted orders (blocked included); " +
	"credit: the router's credit warnings and credit-limit blocks since the trading day began"

// limitsUsage serves GET /v1/limits/usage?since=2m&limit=20.
func (s *Server) limitsUsage(w http.ResponseWriter, r *http.Request) {
	if !s.needIndex(w, r) {
		return
	}
	q := r.URL.Query()
	now := s.cfg.Now()
	since, err := parseTime(q.Get("since"), now)
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid usage query", "since: "+err.Error())
		return
	}
	if since == 0 {
		since = now.Add(-2 * time.Minute).UnixMilli()
	}
	limit := 20
	if !s.limitParam(w, r, q, "Invalid usage query", 200, &limit) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	recent, err := s.index.Signals(ctx, index.SignalQuery{Since: since, Limit: 1000})
	if err != nil {
		s.indexProblem(w, r, "query signals", err)
		return
	}
	credit, err := s.index.Signals(ctx, index.SignalQuery{Breaching: true, Since: tradingDayStart(s.limitsCfg, now), Limit: 1000})
	if err != nil {
		s.indexProblem(w, r, "query credit signals", err)
		return
	}
	out := LimitsUsage{Scopes: []ScopeUsage{}, Source: usageSource}
	byScope := map[domain.Scope]*ScopeUsage{}
	get := func(sc domain.Scope) *ScopeUsage {
		u := byScope[sc]
		if u == nil {
			u = &ScopeUsage{Scope: sc}
			byScope[sc] = u
		}
		return u
	}
	// Newest first: the first detector window of a scope is its latest.
	for _, sig := range recent {
		if sig.WindowMS <= 0 || fromRouter(&sig) {
			continue
		}
		if u := get(sig.Scope); u.TS == 0 {
			u.TS, u.WindowSeconds = sig.TS, sig.WindowMS/1000
			u.Orders, u.Notional = sig.OrderCount, sig.Notional
		}
	}
	for _, sig := range credit {
		pct, used, ok := creditOf(&sig)
		if !ok || sig.Scope.Type() != domain.ScopeAccount {
			continue
		}
		u := get(sig.Scope)
		if u.CreditPct == nil || pct > *u.CreditPct {
			u.CreditPct = &pct
		}
		u.CreditUsed = max(u.CreditUsed, used)
	}
	views, warn := s.limitedViews(ctx, byScope)
	out.Warnings = append(out.Warnings, warn...)
	for sc, u := range byScope {
		v, ok := views[sc]
		if !ok {
			v = s.defaultView(sc)
		}
		u.LimitsState = v.State
		eff := limits.Limits{}.Overlay(&v.Limits)
		u.MaxOrders, u.MaxNotional, u.CreditLimit = eff.MaxOrders, eff.MaxNotional, eff.CreditLimit
		if u.TS != 0 {
			u.OrdersPct = pct(float64(u.Orders), float64(eff.MaxOrders))
			u.NotionalPct = pct(u.Notional, eff.MaxNotional)
		}
		if u.CreditPct != nil && eff.CreditLimit > 0 && u.CreditUsed > 0 {
			// The exact figure where the record carries it.
			u.CreditPct = pct(u.CreditUsed, eff.CreditLimit)
		}
		for _, p := range []*float64{u.OrdersPct, u.NotionalPct, u.CreditPct} {
			if p != nil {
				u.Peak = max(u.Peak, *p)
			}
		}
		out.Scopes = append(out.Scopes, *u)
	}
	slices.SortFunc(out.Scopes, func(a, b ScopeUsage) int {
		if a.Peak != b.Peak {
			if a.Peak > b.Peak {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.Scope), string(b.Scope))
	})
	if len(out.Scopes) > limit {
		out.Scopes = out.Scopes[:limit]
	}
	s.writeJSON(w, http.StatusOK, out)
}

// limitedViews reads the views of the scopes among hot that have limits of
// their own; the rest are on their defaults. Temporal being down is a
// warning: the defaults are shown.
func (s *Server) limitedViews(ctx context.Context, hot map[domain.Scope]*ScopeUsage) (map[domain.Scope]workflows.LimitsView, []string) {
	out := map[domain.Scope]workflows.LimitsView{}
	if s.limits == nil || len(hot) == 0 {
		return out, nil
	}
	limited, err := s.limits.LimitedScopes(ctx, maxLimitedScopes)
	if err != nil {
		return out, []string{"limits from Temporal (defaults shown): " + err.Error()}
	}
	var hotLimited []domain.Scope
	for _, sc := range limited {
		if _, ok := hot[sc]; ok {
			hotLimited = append(hotLimited, sc)
		}
	}
	var warn []string
	views, errs := s.queryViews(ctx, hotLimited)
	for i, sc := range hotLimited {
		switch err := errs[i]; {
		case errors.Is(err, workflows.ErrNoLimits):
		case err != nil:
			warn = append(warn, "limits of "+string(sc)+" (defaults shown): "+err.Error())
		default:
			out[sc] = views[i]
		}
	}
	return out, warn
}

// fromRouter reports whether a risk signal is the router's (a limit-breach
// record or a credit warning) rather than the detector's window metrics.
func fromRouter(sig *domain.RiskSignal) bool {
	for _, b := range sig.Breaches {
		if strings.HasPrefix(b.Rule, "limit:") || strings.HasPrefix(b.Rule, "credit_warning_") {
			return true
		}
	}
	return false
}

// creditOf reads a credit warning or credit-limit block: the percentage of
// the credit limit it marks, and the credit used.
func creditOf(sig *domain.RiskSignal) (float64, float64, bool) {
	for _, b := range sig.Breaches {
		if p, ok := strings.CutPrefix(b.Rule, "credit_warning_"); ok {
			n, err := strconv.Atoi(p)
			if err == nil {
				return float64(n), b.Value, true
			}
		}
		if b.Rule == "limit:credit_limit" {
			return 100, b.Value, true
		}
	}
	return 0, 0, false
}

// pct is used/limit in percent, nil without a limit.
func pct(used, limit float64) *float64 {
	if limit <= 0 {
		return nil
	}
	p := used / limit * 100
	return &p
}

// tradingDayStart is when the trading day of now began, as the router's
// credit limits count it (Unix milliseconds).
func tradingDayStart(cfg *limits.Config, now time.Time) int64 {
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	t := now.In(loc)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc).Add(cfg.DayStart)
	if start.After(t) {
		start = time.Date(t.Year(), t.Month(), t.Day()-1, 0, 0, 0, 0, loc).Add(cfg.DayStart)
	}
	return start.UnixMilli()
}
