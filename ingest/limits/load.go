package limits

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskgate/riskgate/domain"
)

// Load reads and validates a limits file (see deploy/limits.yaml).
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read limits: %w", err)
	}
	return Parse(path, b)
}

// Parse parses and validates a YAML limits document. Errors name the file,
// the line and the field. Fields left out take their defaults; a scope type
// left out of defaults has no limits but the window and reference age
// defaults.
func Parse(name string, b []byte) (Config, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("%s: empty limits file", name)
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	p := parser{file: name}
	c := p.document(&doc)
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// parser walks the YAML tree by hand so that every error can name the line
// and the field it is about.
type parser struct {
	file string
	errs []error
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s:%d: %s: %s", p.file, n.Line, field, fmt.Sprintf(format, args...)))
}

// fields returns a mapping's fields in order, reporting anything that is
// not a mapping and any field given twice.
func (p *parser) fields(n *yaml.Node, path string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping")
		return nil
	}
	seen := make(map[string]bool)
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.fail(k, join(path, k.Value), "given twice")
			continue
		}
		seen[k.Value] = true
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func (p *parser) document(doc *yaml.Node) Config {
	var c Config
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: empty limits file", p.file))
		return c
	}
	top := doc.Content[0]
	sawDefaults := false
	var defaults, ceilings map[domain.ScopeType]map[string]*yaml.Node
	for _, kv := range p.fields(top, "(top level)") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "future_skew":
			c.FutureSkew = p.duration(v, k.Value)
		case "trading_day":
			p.tradingDay(v, &c)
		case "defaults":
			sawDefaults = true
			defaults = p.byType(v, k.Value, &c.Defaults, false)
		case "ceilings":
			ceilings = p.byType(v, k.Value, &c.Ceilings, true)
		default:
			p.fail(k, k.Value, "unknown field (want future_skew, trading_day, defaults or ceilings)")
		}
	}
	if top.Kind == yaml.MappingNode && !sawDefaults {
		p.fail(top, "defaults", "is required: the limits of each scope type (write defaults: {} for none)")
	}
	// A default above its ceiling is reported where the default is.
	for t, nodes := range defaults {
		for f, n := range nodes {
			if ceilings[t][f] == nil {
				continue
			}
			d, ceil := c.Defaults.Of(t), c.Ceilings.Of(t)
			probe := Limits{}
			setField(&probe, f, d)
			if _, over := probe.Clamp(ceil); over {
				p.fail(n, "defaults."+string(t)+"."+f, "%s is above its ceiling (line %d)", n.Value, ceilings[t][f].Line)
			}
		}
	}
	return c
}

func (p *parser) tradingDay(n *yaml.Node, c *Config) {
	for _, kv := range p.fields(n, "trading_day") {
		k, v := kv[0], kv[1]
		path := "trading_day." + k.Value
		switch k.Value {
		case "time_zone":
			s := p.str(v, path)
			if _, err := time.LoadLocation(s); err != nil || s == "" || s == "Local" {
				p.fail(v, path, "%q is not an IANA time zone such as America/New_York or UTC", s)
				continue
			}
			c.TimeZone = s
		case "starts_at":
			s := p.str(v, path)
			t, err := time.Parse("15:04", s)
			if err != nil {
				p.fail(v, path, "%q is not a time of day such as \"00:00\" or \"17:30\"", s)
				continue
			}
			c.DayStart = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
		default:
			p.fail(k, path, "unknown field (want time_zone or starts_at)")
		}
	}
}

// byType parses a mapping of scope types to limits into b, and returns the
// value node of every field set.
func (p *parser) byType(n *yaml.Node, path string, b *ByType, ceiling bool) map[domain.ScopeType]map[string]*yaml.Node {
	out := make(map[domain.ScopeType]map[string]*yaml.Node)
	for _, kv := range p.fields(n, path) {
		k, v := kv[0], kv[1]
		t := domain.ScopeType(k.Value)
		if typeIndex(t) < 0 {
			p.fail(k, join(path, k.Value), "unknown scope type (want GLOBAL, ACCOUNT, SYMBOL or STRATEGY)")
			continue
		}
		out[t] = p.limits(v, join(path, k.Value), t, b.Of(t), ceiling)
	}
	return out
}

// limitFields are the fields of a scope type's limits, in file order.
var limitFields = []string{"max_order_qty", "max_order_notional", "collar_pct", "restricted", "max_orders",
	"max_notional", "window_seconds", "credit_limit", "require_reference", "max_ref_age_seconds"}

func (p *parser) limits(n *yaml.Node, path string, t domain.ScopeType, l *Limits, ceiling bool) map[string]*yaml.Node {
	set := make(map[string]*yaml.Node)
	for _, kv := range p.fields(n, path) {
		k, v := kv[0], kv[1]
		f, at := k.Value, join(path, k.Value)
		var vals domain.LimitValues
		switch f {
		case "max_order_qty", "max_order_notional", "collar_pct", "max_notional", "credit_limit":
			x, ok := p.number(v, at)
			if !ok {
				continue
			}
			*amountField(&vals, f) = &x
		case "max_orders", "window_seconds", "max_ref_age_seconds":
			x, ok := p.whole(v, at)
			if !ok {
				continue
			}
			*wholeField(&vals, f) = &x
		case "restricted", "require_reference":
			x, ok := p.boolean(v, at)
			if !ok {
				continue
			}
			if f == "restricted" {
				vals.Restricted = &x
			} else {
				vals.RequireReference = &x
			}
		default:
			p.fail(k, at, "unknown field (want %s)", strings.Join(limitFields, ", "))
			continue
		}
		if ceiling && !ceilingFields[f] {
			p.fail(k, at, "has no ceiling; only %s may have one", ceilingList())
			continue
		}
		// Validate the field alone, so the error is reported at its line.
		if err := vals.Validate(t); err != nil {
			var le *domain.LimitError
			if errors.As(err, &le) {
				err = le.Err
			}
			p.fail(v, at, "%v", err)
			continue
		}
		*l = l.Overlay(&vals)
		set[f] = v
	}
	return set
}

// amountField and wholeField return the field of v named f.
func amountField(v *domain.LimitValues, f string) **float64 {
	switch f {
	case "max_order_qty":
		return &v.MaxOrderQty
	case "max_order_notional":
		return &v.MaxOrderNotional
	case "collar_pct":
		return &v.CollarPct
	case "max_notional":
		return &v.MaxNotional
	}
	return &v.CreditLimit
}

func wholeField(v *domain.LimitValues, f string) **int64 {
	switch f {
	case "max_orders":
		return &v.MaxOrders
	case "window_seconds":
		return &v.WindowSeconds
	}
	return &v.MaxRefAgeSeconds
}

// setField copies field f from src to dst.
func setField(dst *Limits, f string, src *Limits) {
	switch f {
	case "max_order_qty":
		dst.MaxOrderQty = src.MaxOrderQty
	case "max_order_notional":
		dst.MaxOrderNotional = src.MaxOrderNotional
	case "collar_pct":
		dst.CollarPct = src.CollarPct
	case "restricted":
		dst.Restricted = src.Restricted
	case "max_orders":
		dst.MaxOrders = src.MaxOrders
	case "max_notional":
		dst.MaxNotional = src.MaxNotional
	case "window_seconds":
		dst.WindowSeconds = src.WindowSeconds
	case "credit_limit":
		dst.CreditLimit = src.CreditLimit
	case "require_reference":
		dst.RequireReference = src.RequireReference
	case "max_ref_age_seconds":
		dst.MaxRefAgeSeconds = src.MaxRefAgeSeconds
	}
}

func (p *parser) scalar(n *yaml.Node, field, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, field, "want %s", want)
		return "", false
	}
	return n.Value, true
}

func (p *parser) str(n *yaml.Node, field string) string {
	s, _ := p.scalar(n, field, "a string")
	return s
}

// number reads a number; underscores between digits (1_000_000) are
// allowed, as YAML allows them in integers.
func (p *parser) number(n *yaml.Node, field string) (float64, bool) {
	s, ok := p.scalar(n, field, "a number")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		p.fail(n, field, "%q is not a number", s)
		return 0, false
	}
	return f, true
}

func (p *parser) whole(n *yaml.Node, field string) (int64, bool) {
	s, ok := p.scalar(n, field, "a whole number")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		p.fail(n, field, "%q is not a whole number", s)
		return 0, false
	}
	return i, true
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	s, ok := p.scalar(n, field, "true or false")
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	p.fail(n, field, "%q is not true or false", s)
	return false, false
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	s, ok := p.scalar(n, field, "a duration such as 2s")
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.fail(n, field, "%q is not a duration such as 2s or 500ms", s)
		return 0
	}
	if d < 0 || d > time.Hour {
		p.fail(n, field, "%v must be from 0 to 1h", d)
		return 0
	}
	return d
}
