package replay

import (
	"bytes"
	"context"
	"testing"
)

// FuzzReadJSONL: whatever a file holds, the replay never fails or panics
// on it, and every non-blank line is either replayed or counted bad.
func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"order_id":"a","ts":1773151200000,"account_id":"A","symbol":"S","side":"BUY","qty":1,"price":2}` + "\n"))
	f.Add([]byte("garbage\n\n{\"order_id\":\"x\"}\r\n"))
	f.Add([]byte(`{"order_id":"c","ts":1,"account_id":"A","symbol":"S","side":"SELL","qty":1,"price":2,"type":"CANCEL"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ReadJSONL(context.Background(), bytes.NewReader(in), r, nil); err != nil {
			t.Fatalf("ReadJSONL: %v", err)
		}
		lines := int64(0)
		for _, l := range bytes.Split(in, []byte("\n")) {
			if !blank(l) {
				lines++
			}
		}
		res := r.Finish(0)
		if res.Counts.Orders+res.Counts.Bad != lines {
			t.Fatalf("%d orders + %d bad, want %d lines", res.Counts.Orders, res.Counts.Bad, lines)
		}
	})
}
