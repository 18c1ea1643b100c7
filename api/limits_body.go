package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/ingest/limits"
)

// LimitsBody is the body of the limits routes: PUT /v1/limits/{scope} and
// POST …/raise carry limits; approve, reject, restrict and unrestrict only
// a reason.
type LimitsBody struct {
	// Limits maps limit fields (JSON names of domain.LimitValues) to
	// values; in a PUT a null puts the field back on its default.
	Limits map[string]json.RawMessage `json:"limits,omitempty"`
	Reason string                     `json:"reason"`
	// DurationSeconds or Until (Unix milliseconds) end a raise.
	DurationSeconds int64 `json:"duration_seconds,omitempty"`
	Until           int64 `json:"until,omitempty"`
	// Operator, when present, must equal the token's identity.
	Operator string `json:"operator,omitempty"`
	// CmdID makes a retried call idempotent, like the Idempotency-Key header.
	CmdID string `json:"cmd_id,omitempty"`
}

// limitFields are the JSON names of domain.LimitValues, in field order.
var limitFields = func() []string {
	t := reflect.TypeFor[domain.LimitValues]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}()

// parseLimits reads a body's limits: the values set, and the fields a null
// clears. Every error names the field it is about.
func parseLimits(raw map[string]json.RawMessage, t domain.ScopeType) (domain.LimitValues, []string, error) {
	var v domain.LimitValues
	var clear []string
	set := map[string]json.RawMessage{}
	for name, val := range raw {
		if !slices.Contains(limitFields, name) {
			return v, nil, &domain.LimitError{Field: name, Err: fmt.Errorf("is not a limit (known: %s)", strings.Join(limitFields, ", "))}
		}
		if bytes.Equal(bytes.TrimSpace(val), []byte("null")) {
			clear = append(clear, name)
			continue
		}
		set[name] = val
	}
	sort.Strings(clear)
	b, err := json.Marshal(set)
	if err != nil {
		return v, nil, fmt.Errorf("encode limits: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return v, nil, &domain.LimitError{Field: te.Field, Err: fmt.Errorf("%s is not a %s", te.Value, te.Type)}
		}
		return v, nil, err
	}
	if err := v.Validate(t); err != nil {
		return v, nil, err
	}
	for _, name := range clear {
		if name == "restricted" && t != domain.ScopeSymbol {
			return v, nil, &domain.LimitError{Field: name, Err: fmt.Errorf("applies to SYMBOL scopes only, not %s", t)}
		}
	}
	return v, clear, nil
}

// setFields are the JSON names of v's set fields, in field order.
func setFields(v domain.LimitValues) []string {
	var m map[string]json.RawMessage
	b, _ := json.Marshal(v) // LimitValues of validated numbers always encode
	_ = json.Unmarshal(b, &m)
	var out []string
	for _, f := range limitFields {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// beyondCeilings names the fields of v above the ceilings of scope type t
// in cfg: what only an admin may ask for.
func beyondCeilings(cfg *limits.Config, t domain.ScopeType, v domain.LimitValues) []string {
	ceil := cfg.Ceilings.Of(t)
	var out []string
	for _, f := range setFields(v) {
		one := domain.LimitValues{}
		fieldOf(&one, f, &v)
		l := (limits.Limits{}).Overlay(&one)
		if _, clamped := l.Clamp(ceil); clamped {
			out = append(out, f)
		}
	}
	return out
}

// fieldOf copies field name of src into dst.
func fieldOf(dst *domain.LimitValues, name string, src *domain.LimitValues) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i, f := range limitFields {
		if f == name {
			d.Field(i).Set(s.Field(i))
		}
	}
}
