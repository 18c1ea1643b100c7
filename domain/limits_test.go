package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeLimitsRecord(t *testing.T) {
	tests := []struct {
		name, in, wantErr, field string
	}{
		{name: "account", in: `{"scope":"ACCOUNT:12345","limits":{"max_orders":50,"max_notional":250000,"window_seconds":30,"credit_limit":1e6},"version":7,"updated_ts":1,"updated_by":"ops","reason":"r"}`},
		{name: "symbol", in: `{"scope":"SYMBOL:AAPL","limits":{"restricted":true,"collar_pct":2.5,"max_ref_age_seconds":10,"require_reference":true},"version":1}`},
		{name: "no limits", in: `{"scope":"GLOBAL","limits":{},"version":1}`},
		{name: "empty", in: ``, wantErr: "empty value"},
		{name: "not json", in: `{`, wantErr: "invalid limits"},
		{name: "bad scope", in: `{"scope":"FIRM","version":1}`, wantErr: "invalid scope"},
		{name: "no version", in: `{"scope":"GLOBAL","limits":{}}`, wantErr: "no positive version"},
		{name: "zero cap", in: `{"scope":"GLOBAL","limits":{"max_orders":0},"version":1}`, wantErr: "from 1 to", field: "max_orders"},
		{name: "negative qty", in: `{"scope":"GLOBAL","limits":{"max_order_qty":-1},"version":1}`, wantErr: "above 0", field: "max_order_qty"},
		{name: "huge notional", in: `{"scope":"GLOBAL","limits":{"max_notional":1e15},"version":1}`, wantErr: "at most", field: "max_notional"},
		{name: "window too long", in: `{"scope":"GLOBAL","limits":{"window_seconds":3601},"version":1}`, wantErr: "from 1 to 3600", field: "window_seconds"},
		{name: "restricted account", in: `{"scope":"ACCOUNT:1","limits":{"restricted":true},"version":1}`, wantErr: "SYMBOL scopes only", field: "restricted"},
		{name: "credit on symbol", in: `{"scope":"SYMBOL:A","limits":{"credit_limit":5},"version":1}`, wantErr: "ACCOUNT scopes only", field: "credit_limit"},
		{name: "ref age on global", in: `{"scope":"GLOBAL","limits":{"max_ref_age_seconds":5},"version":1}`, wantErr: "SYMBOL scopes only", field: "max_ref_age_seconds"},
		{name: "fractional orders", in: `{"scope":"GLOBAL","limits":{"max_orders":1.5},"version":1}`, wantErr: "invalid limits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeLimitsRecord([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.Version <= 0 {
					t.Fatalf("version %d", r.Version)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidLimits) {
				t.Fatalf("error = %v, want one containing %q and wrapping ErrInvalidLimits", err, tt.wantErr)
			}
			var le *LimitError
			if tt.field != "" && (!errors.As(err, &le) || le.Field != tt.field) {
				t.Fatalf("error %v does not name field %s", err, tt.field)
			}
		})
	}
}

func TestLimitsRecordOmitsUnsetFields(t *testing.T) {
	n := int64(100)
	r := LimitsRecord{Scope: "ACCOUNT:1", Limits: LimitValues{MaxOrders: &n}, Version: 2}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"limits":{"max_orders":100}`) {
		t.Fatalf("unset limits are written: %s", b)
	}
	back, err := DecodeLimitsRecord(b)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestDecodeRefPrice(t *testing.T) {
	for _, tt := range []struct{ in, wantErr string }{
		{in: `{"symbol":"AAPL","price":190.25,"ts":1700000000000}`},
		{in: ``, wantErr: "empty value"},
		{in: `{"symbol":"AA PL","price":1,"ts":1}`, wantErr: "symbol"},
		{in: `{"symbol":"AAPL","price":0,"ts":1}`, wantErr: "price 0"},
		{in: `{"symbol":"AAPL","price":1e13,"ts":1}`, wantErr: "at most"},
		{in: `{"symbol":"AAPL","price":1}`, wantErr: "ts is missing"},
		{in: `[1]`, wantErr: "invalid reference price"},
	} {
		p, err := DecodeRefPrice([]byte(tt.in))
		if tt.wantErr == "" {
			if err != nil || p.Symbol != "AAPL" || p.Price != 190.25 {
				t.Errorf("%s: %+v, %v", tt.in, p, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidRefPrice) {
			t.Errorf("%s: error = %v, want one containing %q", tt.in, err, tt.wantErr)
		}
	}
}

// FuzzDecodeLimitsRecord checks that the decoder never panics, that what it
// accepts is valid for its scope type, and that it survives a round trip.
func FuzzDecodeLimitsRecord(f *testing.F) {
	for _, s := range []string{
		`{"scope":"ACCOUNT:12345","limits":{"max_order_qty":1000,"max_order_notional":5e5,"max_orders":100,"max_notional":1e6,"window_seconds":60,"credit_limit":2.5e7,"collar_pct":10,"require_reference":false},"version":3,"updated_ts":1,"updated_by":"ops","reason":"r","last_cmd_id":"c","corr_id":"k","workflow_id":"w","run_id":"x"}`,
		`{"scope":"SYMBOL:AAPL","limits":{"restricted":true,"max_ref_age_seconds":60},"version":1}`,
		`{"scope":"STRATEGY:s","limits":{"restricted":false},"version":1}`,
		`{"scope":"GLOBAL","limits":{"max_orders":-5},"version":1}`,
		`{"scope":"GLOBAL","limits":null,"version":9223372036854775807}`,
		`{"scope":"GLOBAL","limits":{"collar_pct":1e400},"version":1}`,
		``, `null`, `{"version":"1"}`, `{"scope":"ACCOUNT:1","limits":{"max_orders":1e3},"version":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeLimitsRecord(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidLimits) {
				t.Fatalf("error %v does not wrap ErrInvalidLimits", err)
			}
			return
		}
		if _, err := ParseScope(string(r.Scope)); err != nil || r.Version <= 0 {
			t.Fatalf("accepted scope %q version %d", r.Scope, r.Version)
		}
		if err := r.Limits.Validate(r.Scope.Type()); err != nil {
			t.Fatalf("accepted invalid limits: %v", err)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeLimitsRecord(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record: %+v != %+v", r, r2)
		}
	})
}

// FuzzDecodeRefPrice checks that the decoder never panics and accepts only
// prices a router can collar against.
func FuzzDecodeRefPrice(f *testing.F) {
	for _, s := range []string{
		`{"symbol":"AAPL","price":190.25,"ts":1700000000000}`,
		`{"symbol":"AAPL","price":-1,"ts":1}`,
		`{"symbol":"","price":1,"ts":1}`,
		`{"symbol":"AAPL","price":"1","ts":1}`,
		``, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeRefPrice(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidRefPrice) {
				t.Fatalf("error %v does not wrap ErrInvalidRefPrice", err)
			}
			return
		}
		if ValidateID(p.Symbol) != nil || !(p.Price > 0) || p.Price > MaxRefPrice || p.TS <= 0 {
			t.Fatalf("accepted %+v", p)
		}
	})
}
