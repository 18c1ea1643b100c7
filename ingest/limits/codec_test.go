package limits

import (
	"errors"
	"reflect"
	"testing"
)

func TestUsageRoundTrip(t *testing.T) {
	for _, u := range []Usage{
		{},
		{Day: 19675, Credit: 25_000_000 * Scale},
		{Buckets: []Bucket{{Sec: 1_700_000_000, Count: 1, Notional: 1_900_000}}},
		{Day: 19675, Credit: none, Buckets: []Bucket{{Sec: 1, Count: 3, Notional: 0}, {Sec: 2, Count: ^uint32(0), Notional: none},
			{Sec: ^uint32(0), Count: 7, Notional: 5}}},
	} {
		b := AppendUsage([]byte{0xff}, &u)
		var got Usage
		n, err := DecodeUsage(b[1:], &got)
		if err != nil || n != len(b)-1 {
			t.Fatalf("%+v: read %d of %d: %v", u, n, len(b)-1, err)
		}
		if len(got.Buckets) == 0 {
			got.Buckets = nil
		}
		if !reflect.DeepEqual(got, u) {
			t.Fatalf("round trip: %+v != %+v", got, u)
		}
	}
	// An account with one order in its window is a handful of bytes.
	one := Usage{Day: 19675, Credit: 1_900_000, Buckets: []Bucket{{Sec: 1_700_000_000, Count: 1, Notional: 1_900_000}}}
	if n := len(AppendUsage(nil, &one)); n > 16 {
		t.Errorf("one order takes %d bytes", n)
	}
}

func TestDecodeUsageRefusesMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{},
		{0, 0},                      // no bucket count
		{0, 0, 1, 5, 1},             // truncated bucket
		{0, 0, 2, 5, 1, 1, 0, 1, 1}, // second bucket not after the first
		{0, 0, 1, 5, 0, 1},          // bucket without orders
		{0, 0, 200, 1, 1, 1},        // more buckets than bytes
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // overlong varint
		{0x80, 0x80, 0x80, 0x80, 0x10, 0, 0},                               // day above int32
	} {
		var u Usage
		if _, err := DecodeUsage(b, &u); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: error %v", b, err)
		}
	}
}

// FuzzDecodeUsage checks that the decoder never panics and that what it
// accepts encodes back to the same bytes.
func FuzzDecodeUsage(f *testing.F) {
	f.Add(AppendUsage(nil, &Usage{Day: 19675, Credit: 5, Buckets: []Bucket{{Sec: 10, Count: 1, Notional: 3}, {Sec: 12, Count: 2, Notional: 4}}}))
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0, 0, 1, 5, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var u Usage
		n, err := DecodeUsage(b, &u)
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("error %v does not wrap ErrUsage", err)
			}
			return
		}
		if again := AppendUsage(nil, &u); string(again) != string(b[:n]) {
			t.Fatalf("%x re-encodes as %x", b[:n], again)
		}
	})
}
