package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

var orderSeeds = []string{
	`{"order_id":"o1","ts":1700000000000,"account_id":"12345","symbol":"AAPL","side":"BUY","qty":10,"price":187.5,"strategy":"mm-1"}`,
	`{"order_id":"o2","ts":1700000000000,"account_id":"12345","symbol":"AAPL","side":"SELL","qty":1e2,"price":0.01,"strategy":"s","type":"CANCEL","trader":"t"}`,
	`{"order_id":"o3","ts":1,"account_id":"A","symbol":"B","side":"buy","qty":1,"price":1}`,
	`{"order_id":"","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":-1,"price":1}`,
	`{"ORDER_ID":"o4","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1,"extra":{"x":[1,2]}}`,
	`{"order_id":"\u00e9\n","ts":1.5,"account_id":"A B","symbol":"B","side":"BUY","qty":"1","price":null}`,
	`{"order_id":"o5","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1e400}`,
	`{"order_id":"o7","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1e8,"price":1e6}`,
	`{"order_id":"o8","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":100000000.1,"price":1}`,
	`{"order_id":"o9","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1e6,"price":1e10}`,
	`[]`, `null`, `{`, ``, `{"order_id":"o6"} trailing`,
}

// FuzzDecodeOrder checks that DecodeOrder never panics, that what it accepts
// is valid, and that an accepted order survives a JSON round trip.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range orderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOrder(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidOrder) {
				t.Fatalf("error %v does not wrap ErrInvalidOrder", err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("accepted an invalid order: %v", err)
		}
		if o.Qty > DefaultMaxOrderQty || o.Price > DefaultMaxOrderPrice {
			t.Fatalf("accepted qty %v price %v beyond the bounds", o.Qty, o.Price)
		}
		again, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		o2, err := DecodeOrder(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if !reflect.DeepEqual(o, o2) {
			t.Fatalf("round trip changed the order: %+v != %+v", o, o2)
		}
		n := len(o.Scopes())
		if n < 3 || n > 4 {
			t.Fatalf("%d scopes", n)
		}
		for _, s := range o.Scopes() {
			if _, err := ParseScope(string(s)); err != nil {
				t.Fatalf("valid order has invalid scope: %v", err)
			}
		}
	})
}

// FuzzDecodeState checks that DecodeState never panics and accepts only
// states a router can enforce.
func FuzzDecodeState(f *testing.F) {
	for _, s := range []string{
		`{"scope":"ACCOUNT:12345","status":"KILLED","updated_ts":1,"updated_by":"detector","reason":"r","last_cmd_id":"c","corr_id":"k","version":3,"auto_unkill_enabled":true,"workflow_id":"w","run_id":"r"}`,
		`{"scope":"SYMBOL:AAPL","status":"THROTTLED","max_rate_per_second":10,"version":1}`,
		`{"scope":"SYMBOL:AAPL","status":"THROTTLED","version":1}`,
		`{"scope":"GLOBAL","status":"ACTIVE","version":1,"approvals":[{"operator":"a","ts":1}]}`,
		`{"scope":"bad scope","status":"KILLED","version":1}`,
		`{"scope":"ACCOUNT:1","status":"killed","version":0}`,
		``, `null`, `{"version":"1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidState) {
				t.Fatalf("error %v does not wrap ErrInvalidState", err)
			}
			return
		}
		if _, err := ParseScope(string(st.Scope)); err != nil {
			t.Fatalf("accepted scope %q: %v", st.Scope, err)
		}
		if !st.Status.Valid() || st.Version <= 0 {
			t.Fatalf("accepted status %q version %d", st.Status, st.Version)
		}
		if st.Status == StatusThrottled && !(st.MaxRatePerSecond > 0) {
			t.Fatalf("accepted THROTTLED without a rate")
		}
	})
}
