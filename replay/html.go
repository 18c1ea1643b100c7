// The report as one self-contained HTML page: a timeline per scope of what
// happened beside what the candidate would have done, and the table.

package replay

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"

	"github.com/riskgate/riskgate/domain"
)

// Timeline geometry, in SVG user units (as the daily report's).
const (
	svgLeft    = 200.0
	svgWidth   = 1000.0
	svgPlot    = svgWidth - svgLeft - 20
	rowH       = 14.0
	laneGap    = 10.0
	axisH      = 24.0
	maxLanes   = 100
	killColor  = "#c62828"
	thrColor   = "#ef8f00"
	markColor  = "#1a237e"
	laneColor  = "#f1f4f8"
	otherColor = "#5b6675"
)

type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Class      string
	Title      string
}

type svgText struct {
	X, Y   float64
	Text   string
	Anchor string
	Class  string
}

type svgLine struct{ X1, Y1, X2, Y2 float64 }

type timeline struct {
	Width, Height float64
	Rects         []svgRect
	Texts         []svgText
	Grid          []svgLine
	// Hidden counts the scopes left out of the chart (all are in the table).
	Hidden int
}

// x maps a time to the plot's x.
func (res *Result) x(t time.Time) float64 {
	span := res.To.Sub(res.From).Seconds()
	if span <= 0 {
		return svgLeft
	}
	f := t.Sub(res.From).Seconds() / span
	return svgLeft + max(0, min(1, f))*svgPlot
}

// tickStep is a round step that puts about six ticks on the axis.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if span/s <= 8 {
			return s
		}
	}
	return 24 * time.Hour
}

func (res *Result) timeline() timeline {
	var tl timeline
	lanes := res.Scopes
	if len(lanes) > maxLanes {
		tl.Hidden = len(lanes) - maxLanes
		lanes = lanes[:maxLanes]
	}
	rows := 1
	if res.Actual {
		rows = 2
	}
	laneH := float64(rows) * rowH
	lanesH := float64(len(lanes))*(laneH+laneGap) + laneGap
	if len(lanes) == 0 {
		lanesH = laneH + 2*laneGap
		tl.Texts = append(tl.Texts, svgText{X: svgLeft + svgPlot/2, Y: axisH + lanesH/2 + 4,
			Text: "no scope breached or was killed", Anchor: "middle"})
	}
	tl.Width, tl.Height = svgWidth, axisH+lanesH+8
	span := res.To.Sub(res.From)
	if span > 0 {
		step := tickStep(span)
		layout := "15:04:05"
		if span > 48*time.Hour {
			layout = "Jan 2 15:04"
		}
		for t := res.From.Truncate(step); !t.After(res.To); t = t.Add(step) {
			if t.Before(res.From) {
				continue
			}
			x := res.x(t)
			tl.Grid = append(tl.Grid, svgLine{x, axisH - 4, x, axisH + lanesH})
			tl.Texts = append(tl.Texts, svgText{X: x, Y: axisH - 8, Text: t.UTC().Format(layout), Anchor: "middle"})
		}
	}
	for i := range lanes {
		s := &lanes[i]
		y := axisH + laneGap + float64(i)*(laneH+laneGap)
		tl.Texts = append(tl.Texts, svgText{X: svgLeft - 10, Y: y + laneH/2 + 4, Text: string(s.Scope), Anchor: "end", Class: "scope"})
		row := func(o *Outcome, ry float64, kind string) {
			tl.Rects = append(tl.Rects, svgRect{X: svgLeft, Y: ry, W: svgPlot, H: rowH, Fill: laneColor})
			if rows == 2 {
				tl.Texts = append(tl.Texts, svgText{X: svgLeft + 4, Y: ry + rowH - 3, Text: kind, Anchor: "start", Class: "row"})
			}
			for _, iv := range o.Intervals {
				fill := killColor
				if iv.Status == domain.StatusThrottled {
					fill = thrColor
				}
				x0, x1 := res.x(iv.From), res.x(iv.To)
				end := iv.To.UTC().Format("15:04:05")
				if iv.Ongoing {
					end = "end"
				}
				tl.Rects = append(tl.Rects, svgRect{X: x0, Y: ry + 2, W: max(x1-x0, 3), H: rowH - 4, Fill: fill,
					Class: kind + " " + string(iv.Status),
					Title: fmt.Sprintf("%s %s %s: %s–%s", s.Scope, kind, iv.Status, iv.From.UTC().Format("15:04:05"), end)})
			}
			if b := o.FirstBreach; b != nil {
				tl.Rects = append(tl.Rects, svgRect{X: res.x(b.TS) - 1, Y: ry - 2, W: 2, H: rowH + 4, Fill: markColor,
					Class: kind + " breach", Title: kind + " first breach: " + breachText(b) + " at order " + orderOf(b)})
			}
		}
		if res.Actual && s.Actual != nil {
			row(s.Actual, y, "actual")
			row(&s.Candidate, y+rowH, "candidate")
		} else {
			row(&s.Candidate, y, "candidate")
		}
	}
	return tl
}

var page = template.Must(template.New("replay").Funcs(template.FuncMap{
	"f":       func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"stamp":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"breach":  breachText,
	"order":   orderOf,
	"at":      func(b *Breach) string { return atOf(b) },
	"group":   group,
	"money":   money,
	"diff":    func(d Diff) string { return d.String() },
	"diffcls": func(d Diff) string { return "diff-" + string(d.Kind) },
	"n":       func(i int) int64 { return int64(i) },
}).Parse(pageHTML))

// WriteHTML writes the report as one self-contained page (inline CSS and
// SVG, no script, nothing fetched).
func (res *Result) WriteHTML(w io.Writer) error {
	if err := page.Execute(w, struct {
		*Result
		TL timeline
	}{res, res.timeline()}); err != nil {
		return fmt.Errorf("render replay HTML: %w", err)
	}
	return nil
}

const pageHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>riskgate replay {{stamp .From}} – {{stamp .To}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1c2430;margin:0;background:#fff}
main{max-width:1240px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6675;margin:0 0 6px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:14px}
.card{border:1px solid #d8dee6;border-radius:6px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:24px}
.card span{color:#5b6675}
table{border-collapse:collapse;width:100%;font-size:12.5px}
th,td{border-bottom:1px solid #e3e7ec;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.scope{font-weight:600;white-space:nowrap}
.diff-new{color:#c62828;font-weight:600}.diff-gone{color:#2e7d32;font-weight:600}
.diff-earlier{color:#ad1457}.diff-later{color:#1565c0}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
.warn{background:#fff4e5;border:1px solid #ef8f00;padding:8px 12px;border-radius:6px}
svg text{font:11px system-ui,sans-serif;fill:#37414f}
svg text.row{font-size:9px;fill:#8a94a3}
code{font-size:12px}
footer{color:#5b6675;font-size:12px;margin-top:28px}
</style>
</head>
<body>
<main>
<h1>What-if replay</h1>
<p class="sub">{{.Source}} · {{stamp .From}} to {{stamp .To}}</p>
<p class="sub">Candidate rules: {{range $i, $r := .Rules}}{{if $i}}, {{end}}<code>{{$r}}</code>{{end}}</p>
<p class="sub">{{if .NoKills}}Kills not simulated: breaches only.{{else}}Kills: {{.Policy}}; no operator actions.{{end}}{{if .Limits}} Candidate pre-trade limits checked.{{end}}</p>
<div class="cards">
<div class="card"><b id="orders">{{group .Counts.Orders}}</b><span>orders replayed</span></div>
<div class="card"><b id="candidate-kills">{{.Totals.CandidateKills}}</b><span>candidate kills</span></div>
<div class="card"><b id="candidate-dropped">{{group .Totals.CandidateDropped}}</b><span>would be dropped ({{money .Totals.CandidateNotional}})</span></div>
{{if .Actual}}<div class="card"><b id="actual-kills">{{.Totals.ActualKills}}</b><span>actual kills</span></div>
<div class="card"><b id="actual-dropped">{{group .Totals.ActualDropped}}</b><span>actually dropped</span></div>
<div class="card"><b id="new">{{.Totals.New}}</b><span>new</span></div>
<div class="card"><b id="gone">{{.Totals.Gone}}</b><span>would not happen</span></div>{{end}}
<div class="card"><b id="bad">{{group .Counts.Bad}}</b><span>bad inputs</span></div>
</div>

<h2>Timeline</h2>
<p class="legend"><span><i style="background:#c62828"></i>KILLED</span><span><i style="background:#ef8f00"></i>THROTTLED</span><span><i style="background:#1a237e"></i>first breach</span>{{if .Actual}}<span>each scope: actual above, candidate below</span>{{end}}</p>
<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {{f .TL.Width}} {{f .TL.Height}}" role="img" aria-label="replay timeline">
{{range .TL.Grid}}<line x1="{{f .X1}}" y1="{{f .Y1}}" x2="{{f .X2}}" y2="{{f .Y2}}" stroke="#dde2e8" stroke-width="1"/>
{{end}}{{range .TL.Rects}}<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Fill}}"{{if .Class}} class="{{.Class}}"{{end}} rx="2">{{if .Title}}<title>{{.Title}}</title>{{end}}</rect>
{{end}}{{range .TL.Texts}}<text x="{{f .X}}" y="{{f .Y}}" text-anchor="{{.Anchor}}"{{if .Class}} class="{{.Class}}"{{end}}>{{.Text}}</text>
{{end}}</svg>
{{if .TL.Hidden}}<p>{{.TL.Hidden}} more scopes are in the table below and in replay.csv.</p>{{end}}

<h2>Scopes</h2>
{{if .Scopes}}<table id="scopes">
<thead><tr><th>Scope</th><th>Candidate first breach</th><th>Order</th><th>At</th><th>Kills</th><th>Dropped</th><th>Notional</th><th>Blocked</th>{{if .Actual}}<th>Actual first</th><th>Order</th><th>At</th><th>Kills</th><th>Dropped</th><th>Difference</th>{{end}}</tr></thead>
<tbody>
{{range .Scopes}}<tr data-scope="{{.Scope}}"><td class="scope">{{.Scope}}</td><td>{{breach .Candidate.FirstBreach}}</td><td><code>{{order .Candidate.FirstBreach}}</code></td><td>{{at .Candidate.FirstBreach}}</td><td class="n">{{.Candidate.Kills}}</td><td class="n">{{group .Candidate.Dropped}}</td><td class="n">{{money .Candidate.DroppedNotional}}</td><td class="n">{{group .Candidate.Blocked}}</td>{{if .Actual}}<td>{{breach .Actual.FirstBreach}}</td><td><code>{{order .Actual.FirstBreach}}</code></td><td>{{at .Actual.FirstBreach}}</td><td class="n">{{.Actual.Kills}}</td><td class="n">{{group .Actual.Dropped}}</td><td class="{{diffcls .Diff}}">{{diff .Diff}}</td>{{end}}</tr>
{{end}}</tbody>
</table>{{else}}<p>No scope breached, was killed or dropped an order.</p>{{end}}

{{if .BadInputs}}<h2>Bad inputs</h2>
<p class="warn">{{group .Counts.Bad}} inputs were not valid orders and were skipped; the first:</p>
<table><thead><tr><th>Where</th><th>Error</th></tr></thead><tbody>
{{range .BadInputs}}<tr><td>{{.Where}}</td><td>{{.Error}}</td></tr>
{{end}}</tbody></table>{{end}}

<footer>Built by <code>riskgate replay</code>: the detector's engine with the candidate rules over the recorded orders in event-time order, each scope's KillSwitch modelled (a kill takes effect from the order after its breach), and the router's decision table. {{if .Actual}}What happened is read from killswitch.commands.v1, killswitch.state.v1 and audit.v1.{{end}} {{group .Counts.Orders}} orders, {{group .Counts.Cancels}} cancels, {{group .Counts.Late}} late; at most {{group (n .Counts.KeysPeak)}} detector keys. Times in UTC.</footer>
</main>
</body>
</html>
`
