package router

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

var decodeCases = []struct {
	name string
	in   string
	fast bool // decoded without domain.DecodeOrder
}{
	{"generator shape", `{"order_id":"o1","ts":1700000000000,"account_id":"12345","symbol":"AAPL","side":"BUY","qty":10,"price":187.5,"strategy":"mm-1"}`, true},
	{"all fields and spaces", " {\n\t\"order_id\" : \"o2\", \"ts\":1, \"account_id\":\"A\",\"symbol\":\"B\",\"side\":\"SELL\",\"qty\":1.5e3,\"price\":0.25,\"strategy\":\"s\",\"type\":\"CANCEL\",\"trader\":\"t-1\" } \r\n", true},
	{"unknown scalar fields", `{"order_id":"o3","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1,"venue":"X","notional":1.5,"live":true,"test":false}`, true},
	{"no strategy", `{"order_id":"o4","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, true},
	{"escaped string", `{"order_id":"o\u0035","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"non-ASCII order id", `{"order_id":"ordré","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"differently cased key", `{"Order_ID":"o6","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"duplicate key", `{"order_id":"a","order_id":"b","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"null field", `{"order_id":"o8","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1,"trader":null}`, false},
	{"nested unknown", `{"order_id":"o9","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1,"x":{"y":1}}`, false},
	{"fractional ts", `{"order_id":"o10","ts":1.5,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"string qty", `{"order_id":"o11","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":"1","price":1}`, false},
	{"huge price", `{"order_id":"o12","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1e400}`, false},
	{"zero qty", `{"order_id":"o13","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":0,"price":1}`, true},
	{"bad side", `{"order_id":"o14","ts":1,"account_id":"A","symbol":"B","side":"HOLD","qty":1,"price":1}`, true},
	{"trailing garbage", `{"order_id":"o15","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}x`, false},
	{"leading zero", `{"order_id":"o16","ts":01,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"long numbers", `{"order_id":"o17","ts":1234567890123456789,"account_id":"A","symbol":"B","side":"BUY","qty":0.1234567890123456,"price":1234567890123456789}`, true},
	{"negative numbers", `{"order_id":"o18","ts":-17,"account_id":"A","symbol":"B","side":"BUY","qty":-0.0,"price":-1.25}`, true},
	{"ts past int64", `{"order_id":"o19","ts":99999999999999999999,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"dot without digits", `{"order_id":"o20","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1.,"price":1}`, false},
	{"long strings", `{"order_id":"order-0123456789-abcdefghij","ts":1,"account_id":"account-0123456789","symbol":"SYMBOL.LONG.NAME","side":"BUY","qty":1,"price":1}`, true},
	{"escape after eight bytes", `{"order_id":"0123456789\u0041","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"keys that extend field names", `{"order_idx":1,"tsx":1,"typed":1,"traders":1,"account_idx":1,"symbols":1,"sides":1,"strategyx":1,"qtyx":1,"prices":1,"order_id":"o22","ts":1,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, true},
	{"short keys near the end", `{"order_id":"o23","account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1,"ts":1}`, true},
	{"digits past eight in ts", `{"order_id":"o24","ts":123456789,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, true},
	{"ts of eight digits then a letter", `{"order_id":"o25","ts":12345678x,"account_id":"A","symbol":"B","side":"BUY","qty":1,"price":1}`, false},
	{"empty", ``, false},
	{"not an object", `[1]`, false},
	{"empty object", `{}`, true},
}

func TestDecodeOrderMatchesDomain(t *testing.T) {
	for _, tc := range decodeCases {
		t.Run(tc.name, func(t *testing.T) {
			checkEquivalent(t, []byte(tc.in))
			var o domain.Order
			if got := fastDecodeOrder([]byte(tc.in), &o); got != tc.fast {
				t.Errorf("fast path taken = %v, want %v", got, tc.fast)
			}
		})
	}
}

func checkEquivalent(t *testing.T, b []byte) {
	t.Helper()
	in := append([]byte(nil), b...)
	got, gotErr := DecodeOrder(in)
	want, wantErr := domain.DecodeOrder(b)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("DecodeOrder(%q) error = %v, domain.DecodeOrder error = %v", b, gotErr, wantErr)
	}
	if gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("DecodeOrder(%q) error = %q, want %q", b, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeOrder(%q) = %+v, want %+v", b, got, want)
	}
}

// FuzzDecodeOrderEquivalence checks the allocation-free decoder against
// domain.DecodeOrder on arbitrary input.
func FuzzDecodeOrderEquivalence(f *testing.F) {
	for _, tc := range decodeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkEquivalent(t, b) })
}

func TestDecodeOrderAllocatesNothing(t *testing.T) {
	b := []byte(decodeCases[0].in)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := DecodeOrder(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("DecodeOrder allocates %.1f times, want 0", allocs)
	}
}

// TestCheckOrderKey: an order passes only when its record key is its
// account_id, and checking a good key allocates nothing.
func TestCheckOrderKey(t *testing.T) {
	b := []byte(decodeCases[0].in)
	o, err := DecodeOrder(b)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(o.AccountID)
	for _, bad := range [][]byte{nil, {}, []byte(o.AccountID + "x"), []byte("other")} {
		if err := checkOrderKey(bad, &o); !errors.Is(err, errOrderKey) {
			t.Errorf("key %q for account %q: %v, want errOrderKey", bad, o.AccountID, err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		o, _ := DecodeOrder(b)
		if err := checkOrderKey(key, &o); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decoding and checking the key allocates %.1f times, want 0", allocs)
	}
}

func BenchmarkDecodeOrder(b *testing.B) {
	in := []byte(decodeCases[0].in)
	b.Run("router", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := DecodeOrder(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := domain.DecodeOrder(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestAppendAuditMatchesEncodingJSON(t *testing.T) {
	recs := []domain.AuditRecord{
		{TS: 1, Decision: domain.DecisionAllow, OrderID: "o1", AccountID: "A", Symbol: "S", Service: "svc",
			KillswitchStatus: domain.StatusActive, Reason: ReasonNoKill, Partition: 2, Offset: 99},
		{TS: 1700000000000, Decision: domain.DecisionDrop, OrderID: "o\"2\\\n\t\x01<é>\u2028", AccountID: "A", Symbol: "S",
			Strategy: "st", OrderTS: 17, OrderType: "CANCEL", ScopeMatches: []domain.Scope{"GLOBAL", "ACCOUNT:A"},
			KillswitchStatus: domain.StatusKilled, Reason: "GLOBAL KILLED: why", CorrID: "c", StateVersion: 12,
			Service: "svc", DecisionNS: 150, Partition: 0, Offset: 0},
		{Decision: domain.DecisionReject, OrderID: "bad\xffutf8", Reason: "r", Service: "s"},
		{TS: 5, Decision: domain.DecisionBlock, OrderID: "o4", AccountID: "A", Symbol: "S", Service: "svc",
			KillswitchStatus: domain.StatusActive, Reason: ReasonLimit, Partition: 1, Offset: 7,
			Limit: "ACCOUNT:A max_notional=1000000/60s", LimitValue: 1000000.0625, LimitsVersion: 3},
		{TS: 6, Decision: domain.DecisionBlock, OrderID: "o5", AccountID: "A", Symbol: "S", Service: "svc",
			KillswitchStatus: domain.StatusActive, Reason: ReasonLimit, Limit: "SYMBOL:S max_order_qty=1e+06",
			LimitValue: 1e21},
	}
	for i, a := range recs {
		b := appendAudit(nil, &a, i != 2)
		var got domain.AuditRecord
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendAudit wrote invalid JSON %s: %v", b, err)
		}
		// encoding/json's own output decodes to the same record.
		std, _ := json.Marshal(a)
		var want domain.AuditRecord
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if want.ScopeMatches == nil {
			want.ScopeMatches = []domain.Scope{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("appendAudit round trip:\n got %+v\nwant %+v\njson %s", got, want, b)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\x7f", "é\u2028", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(std, &want)
		if got != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, got, want)
		}
	})
}

// The one-pass number readers agree with strconv bit for bit, on every
// digit count around their fast paths' limits.
func TestPlainNumbersMatchStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		intDigits, fracDigits := 1+rng.IntN(17), rng.IntN(17)
		lit := []byte{}
		if rng.IntN(4) == 0 {
			lit = append(lit, '-')
		}
		lit = append(lit, byte('1'+rng.IntN(9)))
		for range intDigits - 1 {
			lit = append(lit, byte('0'+rng.IntN(10)))
		}
		if rng.IntN(8) == 0 {
			lit = []byte("0")
		}
		i := string(lit)
		if fracDigits > 0 {
			lit = append(lit, '.')
			for range fracDigits {
				lit = append(lit, byte('0'+rng.IntN(10)))
			}
		}
		f, j, ok := plainFloat(append(lit, ','), 0)
		want, err := strconv.ParseFloat(string(lit), 64)
		if !ok || err != nil || j != len(lit) || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("plainFloat(%s) = %v, %d, %v; strconv: %v, %v", lit, f, j, ok, want, err)
		}
		n, j, ok := plainInt([]byte(i+"}"), 0)
		wantN, err := strconv.ParseInt(i, 10, 64)
		if ok != (err == nil) || ok && (n != wantN || j != len(i)) {
			t.Fatalf("plainInt(%s) = %d, %d, %v; strconv: %d, %v", i, n, j, ok, wantN, err)
		}
	}
}

// TestEightDigits checks the word-at-a-time digit reader against strconv
// on digits and on every byte that is not one in each position.
func TestEightDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(s string) {
		t.Helper()
		v, ok := eightDigits(binary.LittleEndian.Uint64([]byte(s)))
		want, err := strconv.ParseUint(s, 10, 64)
		if allDigits := err == nil && s[0] != '+'; ok != allDigits || ok && v != want {
			t.Fatalf("eightDigits(%q) = %d, %v; want %d, %v", s, v, ok, want, allDigits)
		}
	}
	for range 10_000 {
		check(fmt.Sprintf("%08d", rng.IntN(100_000_000)))
	}
	for pos := range 8 {
		for c := range 256 {
			b := []byte("12345678")
			b[pos] = byte(c)
			check(string(b))
		}
	}
}
