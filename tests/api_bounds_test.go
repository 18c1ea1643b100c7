package tests

import (
	"testing"
	"time"

	"github.com/riskgate/riskgate/api"
)

// Operator-given durations are bounded at the API: a cooldown_seconds that
// would wrap cooldown_seconds × 1000 (and move the cooldown into the past)
// or exceed the configured maximum is a 400 that never reaches Temporal.
func TestAPICooldownBounded(t *testing.T) {
	killA := func(h *apiHarness) { h.kill("ACCOUNT:A1", "olga") }
	const wraps = `2305843009213693951`
	runAPICases(t, []apiCase{
		{name: "extend that would wrap", setup: killA, method: "POST", path: "/v1/scopes/ACCOUNT:A1/extend", who: "olga",
			body: `{"reason":"longer","cooldown_seconds":` + wraps + `}`, status: 400, contains: []string{"cooldown_seconds"}, check: onlySetupCalls},
		{name: "kill that would wrap", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:A1","reason":"x","auto_unkill":true,"cooldown_seconds":` + wraps + `}`, status: 400,
			contains: []string{"cooldown_seconds"}, check: noCalls},
		{name: "throttle that would wrap", method: "POST", path: "/v1/throttle", who: "olga",
			body: `{"scope":"ACCOUNT:A1","reason":"x","max_rate_per_second":5,"auto_unkill":true,"cooldown_seconds":` + wraps + `}`, status: 400,
			contains: []string{"cooldown_seconds"}, check: noCalls},
		{name: "kill with a negative cooldown", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:A1","reason":"x","cooldown_seconds":-5}`, status: 400, check: noCalls},
		{name: "kill above the default maximum of a week", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:A1","reason":"x","cooldown_seconds":604801}`, status: 400, contains: []string{"604800"}, check: noCalls},
		{name: "kill at the default maximum", method: "POST", path: "/v1/kill", who: "olga",
			body: `{"scope":"ACCOUNT:A1","reason":"x","cooldown_seconds":604800}`, status: 200},
	})
}

// onlySetupCalls checks that the request under test reached no update: the
// setup's kill is the only call.
func onlySetupCalls(t *testing.T, h *apiHarness, _ string) {
	t.Helper()
	if calls := h.ctl.calls(); len(calls) != 1 {
		t.Errorf("%d calls to Temporal, want only the setup's kill: %+v", len(calls), calls)
	}
}

func TestAPICooldownConfiguredMaximum(t *testing.T) {
	h := newAPIHarness(t, func(c *api.Config) { c.MaxCooldown = time.Hour })
	for body, want := range map[string]int{
		`{"scope":"ACCOUNT:A1","reason":"x","cooldown_seconds":3601}`: 400,
		`{"scope":"ACCOUNT:A1","reason":"x","cooldown_seconds":3600}`: 200,
	} {
		if status, _, resp := h.do("POST", "/v1/kill", "olga", body); status != want {
			t.Errorf("kill %s with a 1h maximum: %d %s, want %d", body, status, resp, want)
		}
	}
}
