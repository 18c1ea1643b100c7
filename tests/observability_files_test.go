package tests

// The observability pack (deploy/observability/) as files: the Grafana
// dashboard loads, every alert has firing and quiet promtool cases, every
// query parses, and the metric names the queries read can be listed, for
// TestObservabilityMetricsExist to resolve against a running stack.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const observabilityDir = "../deploy/observability"

// dashboardQuery is one PromQL expression of the dashboard.
type dashboardQuery struct{ panel, expr string }

// dashboardQueries loads the Grafana dashboard and returns its queries. It
// fails the test when the JSON does not load or a panel has no query.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(observabilityDir, "grafana/dashboards/riskgate.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Type    string  `json:"type"`
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var dash struct {
		UID    string  `json:"uid"`
		Title  string  `json:"title"`
		Panels []panel `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("dashboard JSON does not load: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard has no uid, title or panels: uid %q title %q, %d panels", dash.UID, dash.Title, len(dash.Panels))
	}
	var out []dashboardQuery
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			n := 0
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) != "" {
					out = append(out, dashboardQuery{p.Title, tg.Expr})
					n++
				}
			}
			if n == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
		}
	}
	walk(dash.Panels)
	return out
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T, name string) ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(observabilityDir, "prometheus", name))
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(f.Groups) == 0 {
		t.Fatalf("%s has no rule groups", name)
	}
	return f
}

// ruleQueries returns every rule expression of alerts.yaml and
// recording.yaml by the rule's name, and the names recording.yaml records.
func ruleQueries(t *testing.T) (exprs map[string]string, recorded map[string]bool) {
	t.Helper()
	exprs, recorded = map[string]string{}, map[string]bool{}
	for _, file := range []string{"alerts.yaml", "recording.yaml"} {
		for _, g := range loadRules(t, file).Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				if name == "" || r.Expr == "" {
					t.Errorf("%s group %s: a rule without a name or an expression", file, g.Name)
				}
				if r.Record != "" {
					recorded[r.Record] = true
				}
				exprs[name] = r.Expr
			}
		}
	}
	return exprs, recorded
}

// PromQL words that are not metric names where metricNames meets them.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "offset": true, "bool": true, "inf": true, "nan": true,
	"start": true, "end": true,
	// Aggregations may be followed by a grouping before their parenthesis.
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

var promqlIdent = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

var promqlToken = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" +
	`|\{[^}]*\}|\[[^\]]*\]|\$\w+|[0-9][0-9a-zA-Z_.]*|[a-zA-Z_:][a-zA-Z0-9_:]*|\(|\)|\S`)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, label matchers, ranges, numbers, Grafana
// variables, keywords, function calls and grouping label lists are taken
// out. It is a tokenizer, not a parser; TestObservabilityQueriesParse has
// promtool parse the same expressions.
func metricNames(expr string) []string {
	toks := promqlToken.FindAllString(expr, -1)
	var out []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		switch tok {
		case "by", "without", "on", "ignoring", "group_left", "group_right":
			// Skip the label list that follows, if any.
			if i+1 < len(toks) && toks[i+1] == "(" {
				for i++; i < len(toks) && toks[i] != ")"; i++ {
				}
			}
			continue
		}
		if !promqlIdent.MatchString(tok) || promqlKeywords[tok] {
			continue
		}
		if i+1 < len(toks) && toks[i+1] == "(" {
			continue // a function
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	return out
}

func TestMetricNamesTokenizer(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`riskgate_router_ready == 0`, []string{"riskgate_router_ready"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(riskgate_api_request_duration_seconds_bucket{code=~"5..", route!="/x{y}"}[$__rate_interval])))`,
			[]string{"riskgate_api_request_duration_seconds_bucket"}},
		{`sum(rate(a_total[5m])) by (job) / on (job) group_left (version) max without (instance) (b_info) > bool 1e3`,
			[]string{"a_total", "b_info"}},
		{`riskgate:api_requests_5xx:ratio_rate5m > 0.05 and up{job="api"} offset 5m unless absent(c)`,
			[]string{"riskgate:api_requests_5xx:ratio_rate5m", "up", "c"}},
		{`count(x) - count_values("v", y) + topk(3, z) + quantile(0.5, w)`, []string{"x", "y", "z", "w"}},
	} {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// TestAlertsHaveFiringAndQuietCases reads alerts_test.yaml: every alert of
// alerts.yaml has a promtool case where it fires and one where it does not,
// and every alert a case names exists.
func TestAlertsHaveFiringAndQuietCases(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(observabilityDir, "prometheus/alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alert     string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &suite); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(suite.RuleFiles, "alerts.yaml") || !slices.Contains(suite.RuleFiles, "recording.yaml") {
		t.Errorf("alerts_test.yaml loads %v, want alerts.yaml and recording.yaml", suite.RuleFiles)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range suite.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alert]++
			} else {
				quiet[c.Alert]++
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range loadRules(t, "alerts.yaml").Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule in alerts.yaml (recording rules go in recording.yaml)", g.Name)
				continue
			}
			alerts[r.Alert] = true
			if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
				t.Errorf("alert %s: %d firing and %d quiet cases in alerts_test.yaml, want at least one of each", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	for a := range fires {
		if !alerts[a] {
			t.Errorf("alerts_test.yaml tests %s, which alerts.yaml lacks", a)
		}
	}
	if len(alerts) == 0 {
		t.Fatal("alerts.yaml has no alerts")
	}
}

// TestObservabilityQueriesParse has the pinned promtool parse every query
// of the dashboard: each becomes a recording rule of a scratch rule file,
// with Grafana's $__rate_interval as a plain range (`make rules` checks the
// rule files themselves).
func TestObservabilityQueriesParse(t *testing.T) {
	promtool := os.Getenv("RISKGATE_PROMTOOL_BIN")
	if promtool == "" {
		t.Skip("RISKGATE_PROMTOOL_BIN is not set (make test sets it; make promtool installs it)")
	}
	if _, err := os.Stat(promtool); err != nil {
		t.Skipf("promtool not installed at %s (make promtool): %v", promtool, err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range dashboardQueries(t) {
		expr := strings.ReplaceAll(q.expr, "$__rate_interval", "1m")
		enc, err := json.Marshal(expr) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "      - record: dashboard:query:%d\n        expr: %s\n", i, enc)
	}
	f := filepath.Join(t.TempDir(), "dashboard.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, out)
	}
}
