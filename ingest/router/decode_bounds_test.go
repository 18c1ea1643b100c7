package router

import (
	"reflect"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// Orders at and beyond the qty and price bounds decode exactly as
// domain.DecodeOrderWithin decodes them, on the fast path.
func TestDecodeOrderWithinBounds(t *testing.T) {
	order := func(qty, price string) []byte {
		return []byte(`{"order_id":"o1","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":` + qty + `,"price":` + price + `}`)
	}
	tests := []struct {
		name   string
		in     []byte
		bounds domain.OrderBounds
		valid  bool
	}{
		{"default maxima", order("1e8", "1e6"), domain.OrderBounds{}, true},
		{"qty above the default", order("10000000000.5", "1"), domain.OrderBounds{}, false},
		{"a qty 1e9 fat finger is a valid order (the limits BLOCK it)", order("1e9", "100"), domain.OrderBounds{}, true},
		{"price above the default", order("1", "1000000.01"), domain.OrderBounds{}, false},
		{"a $1e16 fat finger", order("1e6", "1e10"), domain.OrderBounds{}, false},
		{"configured qty maximum", order("5e8", "1"), domain.OrderBounds{MaxQty: 1e9}, true},
		{"above a configured qty maximum", order("11", "1"), domain.OrderBounds{MaxQty: 10}, false},
		{"above a configured price maximum", order("1", "2.5"), domain.OrderBounds{MaxPrice: 2}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o domain.Order
			if !fastDecodeOrder(tc.in, &o) {
				t.Fatal("not on the fast path")
			}
			checkEquivalentWithin(t, tc.in, tc.bounds)
			if _, err := DecodeOrderWithin(tc.in, tc.bounds); (err == nil) != tc.valid {
				t.Fatalf("error %v, want valid %v", err, tc.valid)
			}
		})
	}
}

func checkEquivalentWithin(t *testing.T, b []byte, bounds domain.OrderBounds) {
	t.Helper()
	in := append([]byte(nil), b...)
	got, gotErr := DecodeOrderWithin(in, bounds)
	want, wantErr := domain.DecodeOrderWithin(b, bounds)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("DecodeOrderWithin(%q, %+v) error = %v, domain error = %v", b, bounds, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeOrderWithin(%q, %+v) = %+v, want %+v", b, bounds, got, want)
	}
}

// FuzzDecodeOrderWithinEquivalence checks the allocation-free decoder
// against domain.DecodeOrderWithin for arbitrary input and bounds.
func FuzzDecodeOrderWithinEquivalence(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in), 0.0, 0.0)
		f.Add([]byte(tc.in), 10.0, 100.0)
	}
	f.Add([]byte(`{"order_id":"o1","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1e8,"price":1e6}`), 0.0, 0.0)
	f.Fuzz(func(t *testing.T, b []byte, maxQty, maxPrice float64) {
		bounds := domain.OrderBounds{MaxQty: maxQty, MaxPrice: maxPrice}
		if bounds.Validate() != nil {
			return // refused at start, never used
		}
		checkEquivalentWithin(t, b, bounds)
	})
}

func TestDecodeOrderWithinAllocatesNothing(t *testing.T) {
	b := []byte(decodeCases[0].in)
	bounds := domain.OrderBounds{MaxQty: 1e6, MaxPrice: 1e4}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := DecodeOrderWithin(b, bounds); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeOrderWithin allocates %.1f times, want 0", allocs)
	}
}
