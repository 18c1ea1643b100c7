package router

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/riskgate/riskgate/domain"
)

// appendAudit appends a as JSON, exactly the fields and omitempty rules of
// domain.AuditRecord's tags, except that an empty scope_matches is written
// as [] rather than null. validated says the account, symbol and strategy
// passed domain.ValidateID, so they need no escaping. It allocates only when
// buf must grow.
func appendAudit(buf []byte, a *domain.AuditRecord, validated bool) []byte {
	appendID := appendString
	if validated {
		appendID = appendPlain
	}
	buf = append(buf, `{"ts":`...)
	buf = strconv.AppendInt(buf, a.TS, 10)
	buf = append(buf, `,"decision":`...)
	buf = appendPlain(buf, string(a.Decision))
	buf = append(buf, `,"order_id":`...)
	buf = appendString(buf, a.OrderID)
	buf = append(buf, `,"account_id":`...)
	buf = appendID(buf, a.AccountID)
	buf = append(buf, `,"symbol":`...)
	buf = appendID(buf, a.Symbol)
	buf = append(buf, `,"strategy":`...)
	buf = appendID(buf, a.Strategy)
	if a.OrderTS != 0 {
		buf = append(buf, `,"order_ts":`...)
		buf = strconv.AppendInt(buf, a.OrderTS, 10)
	}
	if a.OrderType != "" {
		buf = append(buf, `,"order_type":`...)
		buf = appendString(buf, a.OrderType)
	}
	buf = append(buf, `,"scope_matches":[`...)
	for i, s := range a.ScopeMatches {
		if i > 0 {
			buf = append(buf, ',')
		}
		// Scopes come from state records that passed ParseScope.
		buf = appendPlain(buf, string(s))
	}
	buf = append(buf, `],"killswitch_status":`...)
	buf = appendString(buf, string(a.KillswitchStatus))
	buf = append(buf, `,"reason":`...)
	buf = appendString(buf, a.Reason)
	if a.CorrID != "" {
		buf = append(buf, `,"corr_id":`...)
		buf = appendString(buf, a.CorrID)
	}
	if a.StateVersion != 0 {
		buf = append(buf, `,"state_version":`...)
		buf = strconv.AppendInt(buf, a.StateVersion, 10)
	}
	buf = append(buf, `,"service":`...)
	buf = appendString(buf, a.Service)
	if a.DecisionNS != 0 {
		buf = append(buf, `,"decision_ns":`...)
		buf = strconv.AppendInt(buf, a.DecisionNS, 10)
	}
	buf = append(buf, `,"partition":`...)
	buf = strconv.AppendInt(buf, int64(a.Partition), 10)
	buf = append(buf, `,"offset":`...)
	buf = strconv.AppendInt(buf, a.Offset, 10)
	if a.Limit != "" {
		buf = append(buf, `,"limit":`...)
		buf = appendString(buf, a.Limit)
	}
	// A value is finite (the limits' sums saturate); NaN is no JSON.
	if a.LimitValue != 0 && !math.IsNaN(a.LimitValue) && !math.IsInf(a.LimitValue, 0) {
		buf = append(buf, `,"limit_value":`...)
		buf = strconv.AppendFloat(buf, a.LimitValue, 'g', -1, 64)
	}
	if a.LimitsVersion != 0 {
		buf = append(buf, `,"limits_version":`...)
		buf = strconv.AppendInt(buf, a.LimitsVersion, 10)
	}
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// appendPlain appends a string known to need no escaping.
func appendPlain(buf []byte, s string) []byte {
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
