package domain

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		typ     ScopeType
		id      string
		wantErr string
	}{
		{in: "GLOBAL", typ: ScopeGlobal},
		{in: "ACCOUNT:12345", typ: ScopeAccount, id: "12345"},
		{in: "SYMBOL:BRK.B", typ: ScopeSymbol, id: "BRK.B"},
		{in: "STRATEGY:ALGO_X-2", typ: ScopeStrategy, id: "ALGO_X-2"},
		{in: "", wantErr: "want GLOBAL"},
		{in: "global", wantErr: "want GLOBAL"},
		{in: "GLOBAL:", wantErr: "unknown scope type"},
		{in: "FIRM:1", wantErr: "unknown scope type"},
		{in: "ACCOUNT:", wantErr: "empty"},
		{in: "ACCOUNT:<script>", wantErr: "character"},
		{in: "ACCOUNT:1:2", wantErr: "character"},
		{in: "ACCOUNT:a b", wantErr: "the character ' ' at byte 1"},
		// A character is named whole, not by its first byte.
		{in: "ACCOUNT:xé", wantErr: "the character 'é' at byte 1"},
		{in: "ACCOUNT:\ufffd", wantErr: "the character '�' at byte 0"},
		{in: "ACCOUNT:\xff1", wantErr: "the byte 0xff (not UTF-8) at byte 0"},
		{in: "SYMBOL:" + strings.Repeat("A", 65), wantErr: "limit is 64"},
		{in: "SYMBOL:" + strings.Repeat("A", 64), typ: ScopeSymbol, id: strings.Repeat("A", 64)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := ParseScope(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidScope) {
					t.Fatalf("ParseScope(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Type() != tt.typ || s.ID() != tt.id {
				t.Fatalf("type/id = %s/%s, want %s/%s", s.Type(), s.ID(), tt.typ, tt.id)
			}
			if s.WorkflowID() != "killswitch/"+tt.in {
				t.Fatalf("workflow id %s", s.WorkflowID())
			}
		})
	}
}

func validOrder() Order {
	return Order{OrderID: "o1", TS: 1700000000000, AccountID: "12345", Symbol: "AAPL", Side: Buy, Qty: 10, Price: 190.5, Strategy: "VWAP"}
}

func TestOrderValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Order)
		wantErr string
	}{
		{"valid", func(*Order) {}, ""},
		{"cancel", func(o *Order) { o.Type = OrderCancel }, ""},
		{"no strategy", func(o *Order) { o.Strategy = "" }, ""},
		{"missing order_id", func(o *Order) { o.OrderID = "" }, "order_id is missing"},
		{"missing account", func(o *Order) { o.AccountID = "" }, "account_id"},
		{"bad symbol", func(o *Order) { o.Symbol = "A A" }, "symbol"},
		{"zero qty", func(o *Order) { o.Qty = 0 }, "qty"},
		{"negative qty", func(o *Order) { o.Qty = -5 }, "qty"},
		{"zero price", func(o *Order) { o.Price = 0 }, "price"},
		{"unknown side", func(o *Order) { o.Side = "HOLD" }, "side"},
		{"unknown type", func(o *Order) { o.Type = "AMEND" }, "type"},
		{"missing ts", func(o *Order) { o.TS = 0 }, "ts"},
		{"qty at the maximum", func(o *Order) { o.Qty = 1e10 }, ""},
		{"price at the maximum", func(o *Order) { o.Price = 1e6 }, ""},
		{"both at the maximum", func(o *Order) { o.Qty, o.Price = 1e10, 1e6 }, ""},
		{"qty above the maximum", func(o *Order) { o.Qty = 10_000_000_001 }, "qty 1.0000000001e+10 is above the maximum 1e+10"},
		{"price above the maximum", func(o *Order) { o.Price = 1_000_000.01 }, "price 1.00000001e+06 is above the maximum 1e+06"},
		{"a $1e16 fat finger", func(o *Order) { o.Qty, o.Price = 1e6, 1e10 }, "price"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOrder()
			tt.mutate(&o)
			err := o.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidOrder) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// Configured bounds replace the defaults; the detector's fixed-point
// notional relies on qty × price staying finite and bounded.
func TestOrderBounds(t *testing.T) {
	o := validOrder()
	o.Qty, o.Price = 5e10, 10
	if err := o.Validate(); err == nil {
		t.Fatal("qty 5e10 accepted within the default bounds")
	}
	if err := o.ValidateWithin(OrderBounds{MaxQty: 1e11}); err != nil {
		t.Fatalf("qty 5e10 within a maximum of 1e11: %v", err)
	}
	o.Price = 2e6
	if err := o.ValidateWithin(OrderBounds{MaxQty: 1e11}); err == nil || !strings.Contains(err.Error(), "price 2e+06 is above the maximum 1e+06") {
		t.Fatalf("price above the default maximum with only qty configured: %v", err)
	}
	b := []byte(`{"order_id":"o1","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":11,"price":1}`)
	if _, err := DecodeOrderWithin(b, OrderBounds{MaxQty: 10}); err == nil || !errors.Is(err, ErrInvalidOrder) {
		t.Fatalf("DecodeOrderWithin a maximum qty of 10 accepted qty 11: %v", err)
	}
	if _, err := DecodeOrderWithin(b, OrderBounds{MaxQty: 11}); err != nil {
		t.Fatalf("qty at the configured maximum: %v", err)
	}
	for _, bad := range []OrderBounds{{MaxQty: -1}, {MaxPrice: math.NaN()}, {MaxPrice: math.Inf(1)}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("bounds %+v accepted", bad)
		}
	}
	if err := (OrderBounds{}).Validate(); err != nil {
		t.Errorf("zero bounds (the defaults): %v", err)
	}
}

func TestDecodeOrderKeepsOriginalFieldNames(t *testing.T) {
	raw := `{"order_id":"o1","ts":1700000000000,"account_id":"12345","symbol":"AAPL","side":"BUY","qty":10,"price":190.5,"strategy":"VWAP","extra":"ignored"}`
	o, err := DecodeOrder([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if o != validOrder() {
		t.Fatalf("decoded %+v", o)
	}
	if got := o.Scopes(); len(got) != 4 || got[0] != Global || got[1] != "ACCOUNT:12345" || got[2] != "SYMBOL:AAPL" || got[3] != "STRATEGY:VWAP" {
		t.Fatalf("scopes %v", got)
	}
	for _, bad := range []string{"", "{", "null", `{"qty":"ten"}`, `[1,2]`} {
		if _, err := DecodeOrder([]byte(bad)); err == nil {
			t.Errorf("DecodeOrder(%q) = nil error", bad)
		}
	}
	// A valid-JSON but invalid order still reports its order_id, so the
	// rejection can be audited under it.
	o, err = DecodeOrder([]byte(`{"order_id":"x9","qty":-1}`))
	if err == nil || o.OrderID != "x9" {
		t.Fatalf("got %+v, %v", o, err)
	}
}

func TestDecodeState(t *testing.T) {
	good := State{Scope: "ACCOUNT:1", Status: StatusThrottled, MaxRatePerSecond: 10, Version: 3}
	b, _ := json.Marshal(good)
	if st, err := DecodeState(b); err != nil || st.MaxRatePerSecond != 10 {
		t.Fatalf("DecodeState = %+v, %v", st, err)
	}
	for name, raw := range map[string]string{
		"empty":            "",
		"not json":         "nope",
		"bad scope":        `{"scope":"ACCT:1","status":"KILLED","version":1}`,
		"bad status":       `{"scope":"GLOBAL","status":"DEAD","version":1}`,
		"no version":       `{"scope":"GLOBAL","status":"KILLED"}`,
		"throttle no rate": `{"scope":"GLOBAL","status":"THROTTLED","version":1}`,
	} {
		if _, err := DecodeState([]byte(raw)); err == nil || !errors.Is(err, ErrInvalidState) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}
