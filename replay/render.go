// The report as a table, CSV and JSON.

package replay

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const clockLayout = "2006-01-02T15:04:05.000Z07:00"

// WriteTable writes the report as a table for a terminal: what was read,
// then one line per scope.
func (res *Result) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "replay of %s, %s … %s\n", res.Source, res.From.UTC().Format(clockLayout), res.To.UTC().Format(clockLayout))
	c := res.Counts
	fmt.Fprintf(&b, "%s orders (%s cancels, %s late, %s bad) in %s; at most %s detector keys\n",
		group(c.Orders), group(c.Cancels), group(c.Late), group(c.Bad), res.Elapsed.Round(time.Millisecond), group(int64(c.KeysPeak)))
	fmt.Fprintf(&b, "candidate rules: %s\n", strings.Join(res.Rules, ", "))
	switch {
	case res.NoKills:
		b.WriteString("kills: not simulated (--no-kills): breaches only\n")
	default:
		fmt.Fprintf(&b, "kills: %s; no operator actions\n", res.Policy)
	}
	t := res.Totals
	fmt.Fprintf(&b, "candidate: %d kills, %s orders dropped (notional %s), %s blocked\n",
		t.CandidateKills, group(t.CandidateDropped), money(t.CandidateNotional), group(t.CandidateBlocked))
	if res.Actual {
		fmt.Fprintf(&b, "actual:    %d kills, %s orders dropped, %s blocked; %d new, %d gone, %d earlier, %d later\n",
			t.ActualKills, group(t.ActualDropped), group(t.ActualBlocked), t.New, t.Gone, t.Earlier, t.Later)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	head := "SCOPE\tFIRST BREACH\tORDER\tAT\tKILLS\tDROPPED\tNOTIONAL\tBLOCKED"
	if res.Actual {
		head += "\tACTUAL FIRST\tACTUAL ORDER\tACTUAL AT\tACTUAL KILLS\tACTUAL DROPPED\tDIFF"
	}
	fmt.Fprintln(tw, head)
	for i := range res.Scopes {
		s := &res.Scopes[i]
		c := &s.Candidate
		line := []string{string(s.Scope), breachText(c.FirstBreach), orderOf(c.FirstBreach), atOf(c.FirstBreach),
			strconv.Itoa(c.Kills), group(c.Dropped), money(c.DroppedNotional), group(c.Blocked)}
		if a := s.Actual; a != nil {
			line = append(line, breachText(a.FirstBreach), orderOf(a.FirstBreach), atOf(a.FirstBreach),
				strconv.Itoa(a.Kills), group(a.Dropped), s.Diff.String())
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	if len(res.Scopes) == 0 {
		fmt.Fprintln(tw, "(no scope breached, was killed or dropped an order)")
	}
	tw.Flush()
	if c.Bad > 0 {
		fmt.Fprintf(&b, "\n%s bad inputs skipped", group(c.Bad))
		if len(res.BadInputs) > 0 {
			b.WriteString("; the first:")
		}
		b.WriteString("\n")
		for _, bi := range res.BadInputs {
			fmt.Fprintf(&b, "  %s: %s\n", bi.Where, bi.Error)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// String says the difference in words: "same", "earlier by 1.5s", "new".
func (d Diff) String() string {
	switch d.Kind {
	case DiffEarlier:
		return "earlier by " + (-d.By).String()
	case DiffLater:
		return "later by " + d.By.String()
	case DiffNone:
		return "-"
	}
	return string(d.Kind)
}

func breachText(b *Breach) string {
	if b == nil {
		return "-"
	}
	switch b.Source {
	case "operator", "system":
		return b.Source + " " + strings.ToLower(string(b.Action)) + " by " + b.By
	}
	name := b.Rule
	if name == "" {
		name = b.Source
	}
	if b.Metric == "" {
		return name
	}
	s := name + ": " + b.Metric + " " + trimFloat(b.Value) + " > " + trimFloat(b.Threshold)
	if b.Window != "" {
		s += " over " + b.Window
	}
	return s
}

func orderOf(b *Breach) string {
	if b == nil || b.OrderID == "" {
		return "-"
	}
	return b.OrderID
}

func atOf(b *Breach) string {
	if b == nil {
		return "-"
	}
	return b.TS.UTC().Format(clockLayout)
}

// WriteCSV writes one row per scope.
func (res *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"scope", "first_breach_source", "first_breach_rule", "metric", "window", "action", "order_id", "ts",
		"value", "threshold", "incidents", "kills", "throttles", "dropped", "dropped_notional", "throttled",
		"throttled_notional", "blocked", "blocked_notional",
		"actual_first_source", "actual_first_rule", "actual_order_id", "actual_ts", "actual_by", "actual_kills",
		"actual_throttles", "actual_dropped", "actual_throttled", "actual_blocked", "diff", "diff_ms"}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write replay CSV: %w", err)
	}
	for i := range res.Scopes {
		s := &res.Scopes[i]
		c := &s.Candidate
		row := []string{string(s.Scope)}
		row = append(row, breachCols(c.FirstBreach)...)
		row = append(row, strconv.Itoa(c.Incidents), strconv.Itoa(c.Kills), strconv.Itoa(c.Throttles),
			strconv.FormatInt(c.Dropped, 10), num(c.DroppedNotional), strconv.FormatInt(c.Throttled, 10),
			num(c.ThrottledNotional), strconv.FormatInt(c.Blocked, 10), num(c.BlockedNotional))
		if a := s.Actual; a != nil {
			f := a.FirstBreach
			if f == nil {
				f = &Breach{}
			}
			ts := ""
			if !f.TS.IsZero() {
				ts = f.TS.UTC().Format(clockLayout)
			}
			row = append(row, f.Source, csvSafe(f.Rule), f.OrderID, ts, csvSafe(f.By), strconv.Itoa(a.Kills),
				strconv.Itoa(a.Throttles), strconv.FormatInt(a.Dropped, 10), strconv.FormatInt(a.Throttled, 10),
				strconv.FormatInt(a.Blocked, 10), string(s.Diff.Kind), strconv.FormatInt(s.Diff.By.Milliseconds(), 10))
		} else {
			row = append(row, make([]string, 12)...)
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write replay CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write replay CSV: %w", err)
	}
	return nil
}

func breachCols(b *Breach) []string {
	if b == nil {
		return make([]string, 9)
	}
	return []string{b.Source, csvSafe(b.Rule), b.Metric, b.Window, string(b.Action), csvSafe(b.OrderID),
		b.TS.UTC().Format(clockLayout), num(b.Value), num(b.Threshold)}
}

// csvSafe keeps a spreadsheet from reading free text as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func (res *Result) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode replay JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteDir writes replay.csv and replay.html into dir, creating it.
func (res *Result) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output directory: %w", err)
	}
	var c, h bytes.Buffer
	if err := res.WriteCSV(&c); err != nil {
		return err
	}
	if err := res.WriteHTML(&h); err != nil {
		return err
	}
	for name, body := range map[string][]byte{"replay.csv": c.Bytes(), "replay.html": h.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func trimFloat(f float64) string {
	if f == float64(int64(f)) && f < 1e15 && f > -1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// group writes 1234567 as 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// money writes a notional with thousands separators and cents.
func money(f float64) string {
	whole := int64(f)
	cents := int64((f-float64(whole))*100 + 0.5)
	if cents >= 100 {
		whole, cents = whole+1, cents-100
	}
	return fmt.Sprintf("%s.%02d", group(whole), cents)
}
