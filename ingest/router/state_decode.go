package router

import (
	"encoding/json"
	"reflect"
	"strings"
	"unsafe"

	"github.com/riskgate/riskgate/domain"
)

// fastState holds the fields of a state record a decision needs, as raw
// JSON strings (quotes included) in the record, so that a record older than
// the table's copy is dropped before any string is unescaped.
type fastState struct {
	scope, status, corrID, reason rawString
	rate                          float64
	version                       int64
}

// rawString is a JSON string in a record; plain means its bytes between the
// quotes are its value.
type rawString struct {
	b     []byte
	plain bool
}

// value returns the string, aliasing the record when it is plain. An absent
// field is "".
func (r rawString) value() (string, bool) {
	if r.b == nil {
		return "", true
	}
	if r.plain {
		in := r.b[1 : len(r.b)-1]
		return unsafe.String(unsafe.SliceData(in), len(in)), true
	}
	// Workflows write json.Marshal output, which escapes <, > and &: only
	// such values cost an allocation here.
	var s string
	return s, json.Unmarshal(r.b, &s) == nil
}

// stateField is one JSON field of domain.State.
type stateField struct {
	bit  uint64
	kind reflect.Kind
}

// stateFields are domain.State's JSON fields, read from its tags so that a
// field added to the contract is type-checked here as encoding/json would.
var stateFields = func() map[string]stateField {
	out := map[string]stateField{}
	typ := reflect.TypeFor[domain.State]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = stateField{bit: 1 << uint(i), kind: f.Type.Kind()}
	}
	return out
}()

// parseStateFast reads a state record value if it is a flat JSON object of
// plain values that encoding/json would decode into domain.State without
// error and with the same field values: exact-case keys, no duplicates, no
// null, strings without escapes or non-ASCII bytes, integers where the field
// is an integer. Unknown keys with plain scalar values are skipped, as
// encoding/json ignores them. Anything else reports false.
func parseStateFast(b []byte) (f fastState, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return f, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return f, skipWS(b, i+1) == len(b)
	}
	var seen uint64
	for {
		if i >= len(b) || b[i] != '"' {
			return f, false
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return f, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return f, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return f, false
		}
		sf, known := stateFields[key]
		switch {
		case !known:
			if !plainUnknownStateKey(key) {
				return f, false
			}
			if i, ok = skipScalar(b, i); !ok {
				return f, false
			}
		case seen&sf.bit != 0:
			return f, false
		default:
			seen |= sf.bit
			switch sf.kind {
			case reflect.String:
				if b[i] != '"' {
					return f, false
				}
				start := i
				var plain bool
				if i, plain, ok = scanString(b, i); !ok {
					return f, false
				}
				raw := rawString{b[start:i], plain}
				switch key {
				case "scope":
					f.scope = raw
				case "status":
					f.status = raw
				case "corr_id":
					f.corrID = raw
				case "reason":
					f.reason = raw
				}
			case reflect.Int64:
				var n int64
				if n, i, ok = plainInt(b, i); !ok {
					return f, false
				}
				if key == "version" {
					f.version = n
				}
			case reflect.Float64:
				var x float64
				if x, i, ok = plainFloat(b, i); !ok {
					return f, false
				}
				if key == "max_rate_per_second" {
					f.rate = x
				}
			case reflect.Bool:
				switch {
				case hasPrefix(b[i:], "true"):
					i += 4
				case hasPrefix(b[i:], "false"):
					i += 5
				default:
					return f, false
				}
			default:
				// Slices and anything else: left to encoding/json.
				return f, false
			}
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return f, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return f, skipWS(b, i+1) == len(b)
		default:
			return f, false
		}
	}
}

// plainUnknownStateKey reports whether encoding/json would ignore key: it
// is plain ASCII and folds onto no field of domain.State.
func plainUnknownStateKey(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	for name := range stateFields {
		if asciiEqualFold(key, name) {
			return false
		}
	}
	return true
}

// scanString checks the JSON string starting at b[i] == '"' and returns the
// index after its closing quote. plain reports that it has no escapes and
// only ASCII, so its bytes are its value.
func scanString(b []byte, i int) (end int, plain bool, ok bool) {
	plain = true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, plain, true
		case c < 0x20:
			return 0, false, false
		case c >= 0x80:
			plain = false
		case c == '\\':
			plain = false
			j++
			if j >= len(b) {
				return 0, false, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return 0, false, false
				}
				for _, h := range b[j+1 : j+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, false
					}
				}
				j += 4
			default:
				return 0, false, false
			}
		}
	}
	return 0, false, false
}
