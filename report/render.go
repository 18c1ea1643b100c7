package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// File is one rendered output of a report.
type File struct {
	// Name is the file name, e.g. riskgate-report-2026-03-10.html.
	Name        string
	ContentType string
	Body        []byte
}

// Files renders every output of the report: the HTML page, the kills, the
// blocks by limit, the limit changes, the operator actions and a summary as CSV, and the whole
// report as JSON.
func (r *Report) Files() ([]File, error) {
	base := "riskgate-report-" + r.Date
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		return nil, err
	}
	kills, err := csvBytes(r.killRows())
	if err != nil {
		return nil, fmt.Errorf("render kills CSV: %w", err)
	}
	blocks, err := csvBytes(r.blockRows())
	if err != nil {
		return nil, fmt.Errorf("render blocks CSV: %w", err)
	}
	limitChanges, err := csvBytes(r.limitChangeRows())
	if err != nil {
		return nil, fmt.Errorf("render limit changes CSV: %w", err)
	}
	actions, err := csvBytes(r.actionRows())
	if err != nil {
		return nil, fmt.Errorf("render operator actions CSV: %w", err)
	}
	summary, err := csvBytes(r.summaryRows())
	if err != nil {
		return nil, fmt.Errorf("render summary CSV: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render report JSON: %w", err)
	}
	return []File{
		{base + ".html", "text/html; charset=utf-8", html.Bytes()},
		{base + "-kills.csv", "text/csv; charset=utf-8", kills},
		{base + "-blocks.csv", "text/csv; charset=utf-8", blocks},
		{base + "-limit-changes.csv", "text/csv; charset=utf-8", limitChanges},
		{base + "-operator-actions.csv", "text/csv; charset=utf-8", actions},
		{base + "-summary.csv", "text/csv; charset=utf-8", summary},
		{base + ".json", "application/json", append(js, '\n')},
	}, nil
}

func csvBytes(rows [][]string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

const tsLayout = "2006-01-02T15:04:05.000Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(tsLayout)
}

// csvSafe keeps a spreadsheet from reading free text (reasons, names) as a
// formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

func (r *Report) killRows() [][]string {
	rows := [][]string{{"date", "scope", "scope_type", "start", "end", "ongoing", "started_before_day",
		"trigger", "by", "reason", "corr_id", "duration_seconds", "orders_dropped"}}
	for _, k := range r.Kills {
		rows = append(rows, []string{r.Date, string(k.Scope), string(k.ScopeType), fmtTime(k.Start), fmtTime(k.End),
			strconv.FormatBool(k.Ongoing), strconv.FormatBool(k.StartedBefore), string(k.Trigger), csvSafe(k.By),
			csvSafe(k.Reason), k.CorrID, strconv.FormatFloat(k.Duration.Seconds(), 'f', 3, 64), strconv.FormatInt(k.Drops, 10)})
	}
	return rows
}

func (r *Report) actionRows() [][]string {
	rows := [][]string{{"date", "ts", "scope", "action", "operator", "identity", "reason", "cmd_id", "corr_id"}}
	for _, a := range r.OperatorActions {
		rows = append(rows, []string{r.Date, fmtTime(a.TS), string(a.Scope), string(a.Action), csvSafe(a.Operator),
			string(a.Identity), csvSafe(a.Reason), a.CmdID, a.CorrID})
	}
	return rows
}

func (r *Report) summaryRows() [][]string {
	return [][]string{
		{"metric", "value"},
		{"date", r.Date},
		{"from", fmtTime(r.From)},
		{"to", fmtTime(r.To)},
		{"generated", fmtTime(r.Generated)},
		{"total_kills", strconv.Itoa(r.TotalKills)},
		{"kills_in_force", strconv.Itoa(len(r.Kills))},
		{"total_drops", strconv.FormatInt(r.TotalDrops, 10)},
		{"unattributed_drops", strconv.FormatInt(r.UnattributedDrops, 10)},
		{"total_blocks", strconv.FormatInt(r.TotalBlocks, 10)},
		{"limit_changes", strconv.Itoa(len(r.LimitChanges))},
		{"operator_actions", strconv.Itoa(len(r.OperatorActions))},
		{"truncated", strconv.FormatBool(r.Truncated)},
	}
}

// Timeline geometry, in SVG user units.
const (
	svgLeft   = 190.0
	svgWidth  = 1000.0
	svgPlot   = svgWidth - svgLeft - 20
	laneH     = 26.0
	laneGap   = 8.0
	axisH     = 24.0
	histH     = 70.0
	histTop   = 18.0
	killColor = "#c62828"
	thrColor  = "#ef8f00"
)

type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

type svgText struct {
	X, Y   float64
	Text   string
	Anchor string
}

type svgLine struct{ X1, Y1, X2, Y2 float64 }

type timeline struct {
	Width, Height float64
	Rects         []svgRect
	Texts         []svgText
	Grid          []svgLine
	Marks         []svgRect
}

// x maps a time of the day to the plot's x.
func (r *Report) x(t time.Time) float64 {
	day := r.To.Sub(r.From).Seconds()
	f := t.Sub(r.From).Seconds() / day
	return svgLeft + max(0, min(1, f))*svgPlot
}

func (r *Report) timeline() timeline {
	var tl timeline
	lanesH := float64(len(r.Lanes))*(laneH+laneGap) + laneGap
	if len(r.Lanes) == 0 {
		lanesH = laneH + 2*laneGap
		tl.Texts = append(tl.Texts, svgText{X: svgLeft + svgPlot/2, Y: axisH + lanesH/2 + 4, Text: "no kill or throttle in force this day", Anchor: "middle"})
	}
	histY := axisH + lanesH + histTop
	tl.Width, tl.Height = svgWidth, histY+histH+axisH
	for h := 0; h <= 24; h += 3 {
		x := svgLeft + float64(h)/24*svgPlot
		tl.Grid = append(tl.Grid, svgLine{x, axisH - 4, x, histY + histH})
		tl.Texts = append(tl.Texts, svgText{X: x, Y: axisH - 8, Text: fmt.Sprintf("%02d:00", h), Anchor: "middle"})
	}
	for i, l := range r.Lanes {
		y := axisH + laneGap + float64(i)*(laneH+laneGap)
		tl.Texts = append(tl.Texts, svgText{X: svgLeft - 10, Y: y + laneH/2 + 4, Text: string(l.Scope), Anchor: "end"})
		tl.Rects = append(tl.Rects, svgRect{X: svgLeft, Y: y, W: svgPlot, H: laneH, Fill: "#f1f4f8"})
		for _, iv := range l.Intervals {
			fill := killColor
			if iv.Status == domain.StatusThrottled {
				fill = thrColor
			}
			x0, x1 := r.x(iv.From), r.x(iv.To)
			tl.Rects = append(tl.Rects, svgRect{X: x0, Y: y + 3, W: max(x1-x0, 4), H: laneH - 6, Fill: fill,
				Title: fmt.Sprintf("%s %s %s–%s", l.Scope, iv.Status, iv.From.Format("15:04:05"), iv.To.Format("15:04:05"))})
		}
		for _, a := range l.Actions {
			// A tick above the lane, so it never hides a short kill.
			tl.Marks = append(tl.Marks, svgRect{X: r.x(a) - 1, Y: y - 5, W: 2, H: 7, Fill: "#1a237e",
				Title: "operator action at " + a.Format("15:04:05")})
		}
	}
	var peak int64
	for _, n := range r.DropsByHour {
		peak = max(peak, n)
	}
	tl.Texts = append(tl.Texts, svgText{X: svgLeft - 10, Y: histY + histH/2 + 4, Text: "drops / hour", Anchor: "end"})
	tl.Rects = append(tl.Rects, svgRect{X: svgLeft, Y: histY, W: svgPlot, H: histH, Fill: "#fafafa"})
	for h, n := range r.DropsByHour {
		if n == 0 {
			continue
		}
		bh := float64(n) / float64(peak) * (histH - 14)
		x := svgLeft + float64(h)/24*svgPlot
		tl.Rects = append(tl.Rects, svgRect{X: x + 2, Y: histY + histH - bh, W: svgPlot/24 - 4, H: bh, Fill: "#455a64",
			Title: fmt.Sprintf("%02d:00–%02d:00: %d orders dropped", h, h+1, n)})
		tl.Texts = append(tl.Texts, svgText{X: x + svgPlot/48, Y: histY + histH - bh - 3, Text: strconv.FormatInt(n, 10), Anchor: "middle"})
	}
	return tl
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh %02dm %02ds", h, m, s)
	}
	if m > 0 {
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"clock": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("15:04:05")
	},
	"stamp":    func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"duration": fmtDuration,
	"f":        func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
}).Parse(pageHTML))

// WriteHTML writes the report as one self-contained HTML page (inline CSS
// and SVG, no script, nothing fetched).
func (r *Report) WriteHTML(w io.Writer) error {
	if err := page.Execute(w, struct {
		*Report
		TL timeline
	}{r, r.timeline()}); err != nil {
		return fmt.Errorf("render report HTML: %w", err)
	}
	return nil
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>riskgate regulatory report {{.Date}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2430;margin:0;background:#fff}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6675;margin:0 0 18px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{border:1px solid #d8dee6;border-radius:6px;padding:10px 16px;min-width:150px}
.card b{display:block;font-size:26px}
.card span{color:#5b6675}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e3e7ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.identity-claimed{color:#c62828;font-weight:600}
.killed{color:#c62828;font-weight:600}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
.warn{background:#fff4e5;border:1px solid #ef8f00;padding:8px 12px;border-radius:6px}
svg text{font:11px system-ui,sans-serif;fill:#37414f}
footer{color:#5b6675;font-size:12px;margin-top:28px}
</style>
</head>
<body>
<main>
<h1>Kill switch activity — {{.Date}}</h1>
<p class="sub">{{stamp .From}} to {{stamp .To}} · generated {{stamp .Generated}}</p>
{{if .Truncated}}<p class="warn">More commands existed than one report reads (1000): some scopes may be missing.</p>{{end}}
<div class="cards">
<div class="card"><b id="total-kills">{{.TotalKills}}</b><span>kills started</span></div>
<div class="card"><b id="total-drops">{{.TotalDrops}}</b><span>orders dropped</span></div>
<div class="card"><b id="total-blocks">{{.TotalBlocks}}</b><span>orders blocked by a limit</span></div>
<div class="card"><b id="limit-changes-count">{{len .LimitChanges}}</b><span>limit changes</span></div>
<div class="card"><b>{{len .OperatorActions}}</b><span>operator actions</span></div>
<div class="card"><b>{{len .Kills}}</b><span>kills in force during the day</span></div>
</div>

<h2>Timeline</h2>
<p class="legend"><span><i style="background:#c62828"></i>KILLED</span><span><i style="background:#ef8f00"></i>THROTTLED</span><span><i style="background:#1a237e"></i>operator action</span></p>
<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {{f .TL.Width}} {{f .TL.Height}}" role="img" aria-label="kill timeline">
{{range .TL.Grid}}<line x1="{{f .X1}}" y1="{{f .Y1}}" x2="{{f .X2}}" y2="{{f .Y2}}" stroke="#dde2e8" stroke-width="1"/>
{{end}}{{range .TL.Rects}}<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Fill}}" rx="2">{{if .Title}}<title>{{.Title}}</title>{{end}}</rect>
{{end}}{{range .TL.Marks}}<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{end}}{{range .TL.Texts}}<text x="{{f .X}}" y="{{f .Y}}" text-anchor="{{.Anchor}}">{{.Text}}</text>
{{end}}</svg>

<h2>Kill activations</h2>
{{if .Kills}}<table>
<thead><tr><th>Scope</th><th>Start</th><th>End</th><th>Duration</th><th>Trigger</th><th>By</th><th>Reason</th><th>Orders dropped</th><th>corr_id</th></tr></thead>
<tbody>
{{range .Kills}}<tr><td class="killed">{{.Scope}}</td><td>{{if .StartedBefore}}{{stamp .Start}}{{else}}{{clock .Start}}{{end}}</td><td>{{if .Ongoing}}still killed{{else}}{{clock .End}}{{end}}</td><td>{{duration .Duration}}</td><td>{{.Trigger}}</td><td>{{.By}}</td><td>{{.Reason}}</td><td class="n">{{.Drops}}</td><td><code>{{.CorrID}}</code></td></tr>
{{end}}</tbody>
</table>{{else}}<p>No kill was in force this day.</p>{{end}}
{{if .UnattributedDrops}}<p>{{.UnattributedDrops}} dropped orders carry no corr_id of a kill listed above.</p>{{end}}

<h2>Blocks by limit</h2>
{{if .Blocks}}<table id="blocks">
<thead><tr><th>Limit</th><th>Scope</th><th>Orders blocked</th><th>First</th><th>Last</th></tr></thead>
<tbody>
{{range .Blocks}}<tr><td><code>{{.Limit}}</code></td><td>{{.Scope}}</td><td class="n">{{.Count}}</td><td>{{clock .First}}</td><td>{{clock .Last}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No order was blocked by a pre-trade limit this day.</p>{{end}}

<h2>Limit changes</h2>
{{if .LimitChanges}}<table id="limit-changes">
<thead><tr><th>Time</th><th>Scope</th><th>Action</th><th>Asked by</th><th>Approved by</th><th>Reason</th><th>Old → new</th><th>Until</th></tr></thead>
<tbody>
{{range .LimitChanges}}<tr><td>{{clock .TS}}</td><td>{{.Scope}}</td><td>{{.Action}}</td><td class="identity-{{.Identity}}">{{.Operator}}</td><td>{{.ApprovedBy}}</td><td>{{.Reason}}</td><td>{{range $i, $c := .Changes}}{{if $i}}<br>{{end}}<code>{{$c}}</code>{{else}}no change{{end}}</td><td>{{clock .Until}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No pre-trade limit was changed this day.</p>{{end}}

<h2>Operator actions</h2>
{{if .OperatorActions}}<table>
<thead><tr><th>Time</th><th>Scope</th><th>Action</th><th>Operator</th><th title="verified: signed by riskgate's API; claimed: sent from the Temporal Web UI or CLI, the name is what was typed">Identity</th><th>Reason</th><th>cmd_id</th></tr></thead>
<tbody>
{{range .OperatorActions}}<tr><td>{{clock .TS}}</td><td>{{.Scope}}</td><td>{{.Action}}</td><td>{{.Operator}}</td><td class="identity-{{.Identity}}">{{if .Identity}}{{.Identity}}{{else}}not recorded{{end}}</td><td>{{.Reason}}</td><td><code>{{.CmdID}}</code></td></tr>
{{end}}</tbody>
</table>{{else}}<p>No operator action this day.</p>{{end}}

<footer>Built by riskgate from the audit index: kill activations from the published kill states, drops from the router's audit records (decision DROP, by the kill's corr_id), blocks from its BLOCK records (by the limit they name), limit changes from risk.limits.commands.v1, operator actions from killswitch.commands.v1. Times in {{.From.Location}}.</footer>
</main>
</body>
</html>
`
