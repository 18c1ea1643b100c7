package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
)

// DecodeOrder is domain.DecodeOrder without allocation for the records the
// order generators and gateways actually send: a flat object of the known
// fields with plain ASCII strings and numbers. Anything else (escapes,
// non-ASCII, null, nested values, duplicate or differently-cased keys,
// invalid input) goes to domain.DecodeOrder, so the result and the error are
// always those of domain.DecodeOrder.
//
// The strings of the returned order alias b: b must not change while the
// order is in use.
func DecodeOrder(b []byte) (domain.Order, error) {
	return DecodeOrderWithin(b, domain.OrderBounds{})
}

// DecodeOrderWithin is DecodeOrder with the given qty and price bounds: the
// result and the error are those of domain.DecodeOrderWithin.
func DecodeOrderWithin(b []byte, bounds domain.OrderBounds) (domain.Order, error) {
	var o domain.Order
	if fastDecodeOrder(b, &o) && o.ValidateWithin(bounds) == nil {
		return o, nil
	}
	return domain.DecodeOrderWithin(b, bounds)
}

// checkOrderKey requires an orders.v1 record to be keyed by its account_id:
// otherwise an account's orders spread over partitions, so ACCOUNT
// throttles admit N× across N routers, duplicates across partitions are
// missed and the detector's account windows are split. It allocates only
// for the error.
func checkOrderKey(key []byte, o *domain.Order) error {
	if string(key) == o.AccountID {
		return nil
	}
	if key == nil {
		return fmt.Errorf("%w: record has no key, want the account_id %q", errOrderKey, o.AccountID)
	}
	return fmt.Errorf("%w: record key %q is not the account_id %q", errOrderKey, key, o.AccountID)
}

// errOrderKey is wrapped by every mis-keyed order's error.
var errOrderKey = errors.New("orders.v1 records must be keyed by their account_id")

// Field bits, to refuse duplicate keys on the fast path.
const (
	fOrderID = 1 << iota
	fTS
	fAccount
	fSymbol
	fSide
	fQty
	fPrice
	fStrategy
	fType
	fTrader
)

// fastDecodeOrder reports whether b is in the subset of JSON it decodes
// exactly as encoding/json would; o is only meaningful when it is.
func fastDecodeOrder(b []byte, o *domain.Order) bool {
	if encodedOrder(b, o) {
		return true
	}
	*o = domain.Order{}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	var seen uint
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		var bit uint
		var dst *string
		switch key {
		case "order_id":
			bit, dst = fOrderID, &o.OrderID
		case "account_id":
			bit, dst = fAccount, &o.AccountID
		case "symbol":
			bit, dst = fSymbol, &o.Symbol
		case "side":
			bit, dst = fSide, (*string)(&o.Side)
		case "strategy":
			bit, dst = fStrategy, &o.Strategy
		case "type":
			bit, dst = fType, (*string)(&o.Type)
		case "trader":
			bit, dst = fTrader, &o.Trader
		case "ts":
			bit = fTS
		case "qty":
			bit = fQty
		case "price":
			bit = fPrice
		default:
			// encoding/json matches keys case-insensitively: a key that
			// folds onto a field, or any non-trivial unknown value, is
			// left to it.
			if !plainUnknownKey(key) {
				return false
			}
			j, ok := skipScalar(b, i)
			if !ok {
				return false
			}
			i = j
		}
		if bit != 0 {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			switch {
			case dst != nil:
				if b[i] != '"' {
					return false
				}
				s, j, ok := plainString(b, i)
				if !ok {
					return false
				}
				*dst, i = s, j
			case bit == fTS:
				n, j, ok := plainInt(b, i)
				if !ok {
					return false
				}
				o.TS, i = n, j
			default:
				f, j, ok := plainFloat(b, i)
				if !ok {
					return false
				}
				if bit == fQty {
					o.Qty = f
				} else {
					o.Price = f
				}
				i = j
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// encodedOrder decodes the layout encoding/json gives a domain.Order, which
// the generators and most gateways send: every field in declaration order,
// no whitespace inside, type and trader optional. Each key is then checked
// as one literal where the general loop below scans it, switches on it and
// tracks duplicates. Anything else returns false (o then holds some
// fields) and is read by the loop; what it accepts, the loop reads alike.
//
// The keys are compared as constants written out in each comparison: the
// compiler turns those into one or two word compares, where a comparison
// with a string variable is a call to memequal.
func encodedOrder(b []byte, o *domain.Order) bool {
	const (
		kOrderID  = `{"order_id":"`
		kTS       = `,"ts":`
		kAccount  = `,"account_id":"`
		kSymbol   = `,"symbol":"`
		kSide     = `,"side":"`
		kQty      = `,"qty":`
		kPrice    = `,"price":`
		kStrategy = `,"strategy":"`
		kType     = `,"type":"`
		kTrader   = `,"trader":"`
	)
	var ok bool
	i := len(kOrderID)
	// A string's literal ends with its opening quote, where plainString
	// starts.
	if len(b) < i || string(b[:i]) != kOrderID {
		return false
	}
	if o.OrderID, i, ok = plainString(b, i-1); !ok {
		return false
	}
	if !has(b, i, len(kTS)) || string(b[i:i+len(kTS)]) != kTS {
		return false
	}
	if o.TS, i, ok = plainInt(b, i+len(kTS)); !ok {
		return false
	}
	if !has(b, i, len(kAccount)) || string(b[i:i+len(kAccount)]) != kAccount {
		return false
	}
	if o.AccountID, i, ok = plainString(b, i+len(kAccount)-1); !ok {
		return false
	}
	if !has(b, i, len(kSymbol)) || string(b[i:i+len(kSymbol)]) != kSymbol {
		return false
	}
	if o.Symbol, i, ok = plainString(b, i+len(kSymbol)-1); !ok {
		return false
	}
	if !has(b, i, len(kSide)) || string(b[i:i+len(kSide)]) != kSide {
		return false
	}
	var str string
	if str, i, ok = plainString(b, i+len(kSide)-1); !ok {
		return false
	}
	o.Side = domain.Side(str)
	if !has(b, i, len(kQty)) || string(b[i:i+len(kQty)]) != kQty {
		return false
	}
	if o.Qty, i, ok = plainFloat(b, i+len(kQty)); !ok {
		return false
	}
	if !has(b, i, len(kPrice)) || string(b[i:i+len(kPrice)]) != kPrice {
		return false
	}
	if o.Price, i, ok = plainFloat(b, i+len(kPrice)); !ok {
		return false
	}
	if !has(b, i, len(kStrategy)) || string(b[i:i+len(kStrategy)]) != kStrategy {
		return false
	}
	if o.Strategy, i, ok = plainString(b, i+len(kStrategy)-1); !ok {
		return false
	}
	if has(b, i, len(kType)) && string(b[i:i+len(kType)]) == kType {
		if str, i, ok = plainString(b, i+len(kType)-1); !ok {
			return false
		}
		o.Type = domain.OrderType(str)
	}
	if has(b, i, len(kTrader)) && string(b[i:i+len(kTrader)]) == kTrader {
		if o.Trader, i, ok = plainString(b, i+len(kTrader)-1); !ok {
			return false
		}
	}
	return i < len(b) && b[i] == '}' && skipWS(b, i+1) == len(b)
}

// has reports whether b holds n bytes from i.
func has(b []byte, i, n int) bool { return n <= len(b)-i }

func skipWS(b []byte, i int) int {
	// Compact JSON, the common case, has none: every whitespace byte is
	// at most ' '.
	if i < len(b) && b[i] > ' ' {
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString reads the string starting at b[i] == '"' if it holds only
// printable ASCII without escapes; the result aliases b.
func plainString(b []byte, i int) (string, int, bool) {
	start := i + 1
	j := start
	// Eight bytes at a time while they last: the first byte that is not
	// plain ASCII decides, as in the loop below.
	for ; j+8 <= len(b); j += 8 {
		if m := stopBytes(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			if b[j] != '"' {
				return "", 0, false
			}
			// b[start] exists (b[j] does, and start ≤ j): one bounds check,
			// where slicing b[start:j] costs several.
			return unsafe.String(&b[start], j-start), j + 1, true
		}
	}
	for ; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return unsafe.String(unsafe.SliceData(b[start:j]), j-start), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stopBytes flags, in the high bit of each byte of w (eight bytes of
// input, little-endian), the bytes that end a plain string: '"', '\\',
// control characters and non-ASCII. Bytes after the first flagged one may
// be flagged wrongly (borrows carry upward), so only the lowest flag is
// meaningful.
func stopBytes(w uint64) uint64 {
	q := w ^ ('"' * lsb)
	bs := w ^ ('\\' * lsb)
	return ((q-lsb)&^q | (bs-lsb)&^bs | (w-0x20*lsb)&^w | w) & msb
}

var orderFields = [...]string{"order_id", "ts", "account_id", "symbol", "side", "qty", "price", "strategy", "type", "trader"}

// plainUnknownKey reports whether key is made of ASCII letters, digits and
// '_' and folds onto no order field, so encoding/json would ignore it.
func plainUnknownKey(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	for _, f := range orderFields {
		if asciiEqualFold(key, f) {
			return false
		}
	}
	return true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// skipScalar skips a plain string, a number, true or false.
func skipScalar(b []byte, i int) (int, bool) {
	switch c := b[i]; {
	case c == '"':
		_, j, ok := plainString(b, i)
		return j, ok
	case c == '-' || c >= '0' && c <= '9':
		j, ok := scanNumber(b, i)
		return j, ok
	case hasPrefix(b[i:], "true"):
		return i + 4, true
	case hasPrefix(b[i:], "false"):
		return i + 5, true
	}
	return 0, false
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// scanNumber checks the JSON number grammar from b[i] and returns its end.
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	}
	return i, true
}

// plainInt reads an integer literal that fits int64 (no fraction, no
// exponent), as encoding/json accepts for an int64 field.
func plainInt(b []byte, i int) (int64, int, bool) {
	// Up to 18 digits cannot overflow: read them in one pass. Anything
	// else (a leading zero, more digits, a fraction or an exponent) is
	// scanned and parsed in full below.
	j, neg := i, i < len(b) && b[i] == '-'
	if neg {
		j++
	}
	d := j
	var n int64
	// A ts has 13 digits: the first eight are read as one word.
	if j+8 <= len(b) {
		if v, ok := eightDigits(binary.LittleEndian.Uint64(b[j:])); ok {
			n, j = int64(v), j+8
		}
	}
	for ; j < len(b) && j-d < 18; j++ {
		c := b[j] - '0' // a byte below '0' wraps above 9
		if c > 9 {
			break
		}
		n = n*10 + int64(c)
	}
	if j > d && (b[d] != '0' || j == d+1) && (j == len(b) || !numberByte(b[j])) {
		if neg {
			n = -n
		}
		return n, j, true
	}
	j, ok := scanNumber(b, i)
	if !ok {
		return 0, 0, false
	}
	lit := b[i:j]
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return 0, 0, false
		}
	}
	n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(lit), len(lit)), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return n, j, true
}

// eightDigits is the value of eight ASCII digits read as a little-endian
// word (the first digit in the lowest byte); ok is false unless every byte
// is a digit. Each step combines neighbouring lanes: pairs of digits into
// two-digit numbers, those into four-digit ones, then the two halves.
func eightDigits(w uint64) (v uint64, ok bool) {
	// A digit is 0x30..0x39: its high nibble is 3, and adding 6 keeps it 3.
	if w&0xF0F0F0F0F0F0F0F0|(w+0x0606060606060606)&0xF0F0F0F0F0F0F0F0>>4 != 0x3333333333333333 {
		return 0, false
	}
	w &= 0x0F0F0F0F0F0F0F0F
	w = w * (10<<8 + 1) >> 8 & 0x00FF00FF00FF00FF
	w = w * (100<<16 + 1) >> 16 & 0x0000FFFF0000FFFF
	return w * (10000<<32 + 1) >> 32, true
}

// decimalRun reads the run of ASCII digits from b[j] onto m (m×10 + digit
// for each) and returns where it ends.
func decimalRun(b []byte, j int, m uint64) (int, uint64) {
	for ; j < len(b); j++ {
		c := b[j] - '0' // a byte below '0' wraps above 9
		if c > 9 {
			break
		}
		m = m*10 + uint64(c)
	}
	return j, m
}

// numberByte reports whether c can continue a JSON number.
func numberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// plainFloat reads a number literal that parses to a finite float64.
func plainFloat(b []byte, i int) (float64, int, bool) {
	// A decimal of at most 15 digits without exponent, as prices and
	// quantities are written, is m / 10^k with m and 10^k exact in a
	// float64: one division, correctly rounded, gives what
	// strconv.ParseFloat gives (the fast path it takes itself). Anything
	// else is parsed in full below.
	j, neg := i, i < len(b) && b[i] == '-'
	if neg {
		j++
	}
	d := j
	var m uint64
	j, m = decimalRun(b, j, m)
	digits, frac := j-d, 0
	if digits > 0 && (b[d] != '0' || digits == 1) && j < len(b) && b[j] == '.' {
		f := j + 1
		j, m = decimalRun(b, f, m)
		frac = j - f
		if frac == 0 {
			digits = 0 // "1." is not a number
		}
	}
	if digits > 0 && digits+frac <= 15 && (b[d] != '0' || digits == 1) && (j == len(b) || !numberByte(b[j])) {
		f := float64(m) / pow10[frac]
		if neg {
			f = -f
		}
		return f, j, true
	}
	j, ok := scanNumber(b, i)
	if !ok {
		return 0, 0, false
	}
	lit := b[i:j]
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(lit), len(lit)), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, 0, false
	}
	return f, j, true
}
