package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/riskgate/riskgate/api"
	"github.com/riskgate/riskgate/devstack"
	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/roles"
	"github.com/riskgate/riskgate/workflows"
)

// TestIdentityOnTheTemporalPath: the Temporal CLI, which anyone with write
// access to the namespace has, cannot release GLOBAL by unkilling it under
// two names; two admins through the API can. The CLI still works where four
// eyes do not apply, and the scope's history, the commands topic and the
// audit index say which actions were verified and which only claimed.
func TestIdentityOnTheTemporalPath(t *testing.T) {
	s := startStack(t, devstack.Options{})
	bin, err := devstack.FindTemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	reader := readTopics(t, s, domain.TopicCommands)
	cli := func(update string, req workflows.OperatorRequest) (string, error) {
		t.Helper()
		in, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "workflow", "update", "execute", "--address", s.Temporal.Addr,
			"--namespace", "default", "--workflow-id", req.Scope.WorkflowID(), "--name", update,
			"--update-id", req.CmdID, "--input", string(in)).CombinedOutput()
		return string(out), err
	}
	act := func(api, token, path string, body map[string]string) domain.State {
		t.Helper()
		status, _, b := httpDo(t, "POST", api+path, token, body)
		if status != http.StatusOK && status != http.StatusAccepted {
			t.Fatalf("POST %s %v: %d %s", path, body, status, b)
		}
		return decodeAs[domain.State](t, string(b))
	}

	// GLOBAL killed through the API.
	act(s.APIURL, s.Token, "/v1/kill", map[string]string{"scope": "GLOBAL", "reason": "exchange connectivity incident"})
	eventually(t, 20*time.Second, "GLOBAL KILLED", func() bool {
		st, ok := s.States.Get(domain.Global)
		return ok && st.Status == domain.StatusKilled
	})

	// Two unkills from the CLI under two names: each is turned away.
	for _, who := range []string{"a", "b"} {
		out, err := cli(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: "cli-unkill-" + who, Scope: domain.Global,
			Operator: who, Reason: "let it go"})
		if err == nil || !strings.Contains(out, "claimed") {
			t.Errorf("claimed unkill of GLOBAL by %s: err %v, output %s; want a refusal saying the identity is claimed", who, err, out)
		}
		t.Logf("temporal workflow update execute … unkill as %s: %s", who, strings.TrimSpace(out))
	}
	time.Sleep(time.Second) // anything published by mistake would be in by now
	if st, _ := s.States.Get(domain.Global); st.Status != domain.StatusKilled || len(st.Approvals) != 0 {
		t.Fatalf("GLOBAL after two claimed unkills: %s with approvals %+v, want KILLED with none", st.Status, st.Approvals)
	}

	// The CLI keeps working where four eyes do not apply, recorded as claimed.
	const account = domain.Scope("ACCOUNT:cli-1")
	act(s.APIURL, s.Token, "/v1/kill", map[string]string{"scope": string(account), "reason": "fat finger"})
	if out, err := cli(workflows.UpdateUnkill, workflows.OperatorRequest{CmdID: "cli-unkill-account", Scope: account,
		Operator: "ui-user", Reason: "fixed"}); err != nil {
		t.Fatalf("claimed unkill of %s from the CLI: %v\n%s", account, err, out)
	}
	eventually(t, 20*time.Second, string(account)+" ACTIVE", func() bool {
		st, ok := s.States.Get(account)
		return ok && st.Status == domain.StatusActive
	})

	// Signing binds an update to the scope's open run: with none (never
	// killed, or its incident over) the API still answers 409.
	for _, sc := range []string{"ACCOUNT:never-killed", string(account)} {
		if status, _, b := httpDo(t, "POST", s.APIURL+"/v1/unkill", s.Token, map[string]string{"scope": sc, "reason": "x"}); status != http.StatusConflict {
			t.Errorf("unkill of %s without an open incident: %d %s, want 409", sc, status, b)
		}
	}

	// Two admins through the API: the dev admin's approval is pending (and
	// verified in the incident's history), a second admin's releases.
	first := act(s.APIURL, s.Token, "/v1/unkill", map[string]string{"scope": "GLOBAL", "reason": "connectivity restored"})
	if first.Status != domain.StatusKilled || len(first.Approvals) != 1 {
		t.Fatalf("first admin's unkill of GLOBAL: %+v, want one approval pending", first)
	}
	status, _, body := httpDo(t, "GET", s.APIURL+"/v1/scopes/GLOBAL", s.Token, nil)
	detail := decodeAs[api.ScopeDetail](t, string(body))
	if status != http.StatusOK || detail.Incident == nil {
		t.Fatalf("GET /v1/scopes/GLOBAL: %d %s", status, body)
	}
	if last := detail.Incident.History[len(detail.Incident.History)-1]; last.Operator != api.DevTokenName || last.Identity != domain.IdentityVerified {
		t.Errorf("GLOBAL's history ends with %+v, want the dev admin's approval, verified", last)
	}
	second := secondAPI(t, s, "erin")
	if st := act(second.url, second.token, "/v1/unkill", map[string]string{"scope": "GLOBAL", "reason": "agreed"}); st.Status != domain.StatusActive {
		t.Fatalf("second admin's unkill of GLOBAL: %+v, want ACTIVE", st)
	}

	// The commands topic says who was verified and who claimed.
	want := map[string]domain.Identity{
		"KILL GLOBAL dev": domain.IdentityVerified, "UNKILL GLOBAL erin": domain.IdentityVerified,
		"KILL ACCOUNT:cli-1 dev": domain.IdentityVerified, "UNKILL ACCOUNT:cli-1 ui-user": domain.IdentityClaimed,
	}
	got := map[string]domain.Identity{}
	eventually(t, 20*time.Second, "the operator commands on "+domain.TopicCommands, func() bool {
		for _, rec := range reader.find(domain.TopicCommands, func(*kgo.Record) bool { return true }) {
			var c domain.Command
			if json.Unmarshal(rec.Value, &c) == nil && c.TriggeredBy == domain.TriggerOperator {
				got[fmt.Sprintf("%s %s %s", c.Action, c.Scope, c.Operator)] = c.Identity
			}
		}
		return len(got) >= len(want)
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("operator commands (action scope operator → identity)\n got %v\nwant %v", got, want)
	}
	// And so does the audit index, behind GET /v1/scopes/{scope}.
	eventually(t, 20*time.Second, "the claimed unkill in the audit index", func() bool {
		_, _, body := httpDo(t, "GET", s.APIURL+"/v1/scopes/"+string(account), s.Token, nil)
		var d api.ScopeDetail
		if json.Unmarshal(body, &d) != nil {
			return false
		}
		for _, c := range d.Commands {
			if c.CmdID == "cli-unkill-account" {
				return c.Identity == domain.IdentityClaimed
			}
		}
		return false
	})
}

// apiInstance is an API role run by a test.
type apiInstance struct{ url, token string }

// secondAPI runs another API role on the stack, signing with the stack's
// identity key, whose only token is an admin's named name.
func secondAPI(t *testing.T, s *devstack.Stack, name string) apiInstance {
	t.Helper()
	token := api.NewToken()
	tokens, err := api.NewTokens([]api.TokenEntry{{Name: name, Role: api.RoleAdmin, SHA256: api.HashToken(token)}})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := workflows.NewIdentitySigner(s.IdentityKeys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: s.Temporal.Addr, Interceptors: []interceptor.ClientInterceptor{signer}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	reg := prometheus.NewRegistry()
	u, addr, err := roles.API(api.Config{Temporal: c, Namespace: "default", Tokens: tokens, Log: testLogger(),
		Registerer: reg, Gatherer: reg}, s.KafkaConfig("riskgate-api-"+name), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := u.Run(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("second API: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return apiInstance{url: "http://" + addr.String(), token: token}
}
