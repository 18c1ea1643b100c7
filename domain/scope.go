package domain

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ScopeType is the dimension a kill applies to.
type ScopeType string

// The scope types, from the most general to the most specific.
const (
	ScopeGlobal   ScopeType = "GLOBAL"
	ScopeAccount  ScopeType = "ACCOUNT"
	ScopeSymbol   ScopeType = "SYMBOL"
	ScopeStrategy ScopeType = "STRATEGY"
)

// ScopeTypes lists every scope type, most general first. Precedence rules
// (which killed scope a DROP names) follow this order.
var ScopeTypes = [...]ScopeType{ScopeGlobal, ScopeAccount, ScopeSymbol, ScopeStrategy}

// Scope names what a kill applies to: "GLOBAL", "ACCOUNT:<id>", "SYMBOL:<sym>"
// or "STRATEGY:<name>". A Scope obtained from ParseScope or NewScope is valid.
type Scope string

// Global is the firm-wide scope.
const Global Scope = "GLOBAL"

// MaxIDLen is the longest id a scope may carry.
const MaxIDLen = 64

// ErrInvalidScope is wrapped by every scope parsing error.
var ErrInvalidScope = errors.New("invalid scope")

// ParseScope validates s against the scope grammar and returns it.
func ParseScope(s string) (Scope, error) {
	if s == string(Global) {
		return Global, nil
	}
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w %q: want GLOBAL, ACCOUNT:<id>, SYMBOL:<sym> or STRATEGY:<name>", ErrInvalidScope, s)
	}
	switch ScopeType(typ) {
	case ScopeAccount, ScopeSymbol, ScopeStrategy:
	default:
		return "", fmt.Errorf("%w %q: unknown scope type %q (want GLOBAL, ACCOUNT, SYMBOL or STRATEGY)", ErrInvalidScope, s, typ)
	}
	if err := ValidateID(id); err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidScope, s, err)
	}
	return Scope(s), nil
}

// NewScope builds the scope of the given type and id, validating the id.
// The id is ignored for ScopeGlobal.
func NewScope(t ScopeType, id string) (Scope, error) {
	if t == ScopeGlobal {
		return Global, nil
	}
	return ParseScope(string(t) + ":" + id)
}

// Type is the scope's dimension.
func (s Scope) Type() ScopeType {
	if s == Global {
		return ScopeGlobal
	}
	typ, _, _ := strings.Cut(string(s), ":")
	return ScopeType(typ)
}

// ID is the account, symbol or strategy the scope names; empty for GLOBAL.
func (s Scope) ID() string {
	_, id, _ := strings.Cut(string(s), ":")
	return id
}

// String returns the scope in its wire form.
func (s Scope) String() string { return string(s) }

// WorkflowID is the id of the scope's KillSwitch workflow.
func (s Scope) WorkflowID() string { return "killswitch/" + string(s) }

// ValidateID checks an account, symbol or strategy id against [A-Za-z0-9._-]{1,64}.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("id is empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id is %d bytes long, the limit is %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return fmt.Errorf("id %q has %s at byte %d; allowed are letters, digits, '.', '_' and '-'", id, charAt(id, i), i)
		}
	}
	return nil
}

// charAt names the character that starts at byte i of s: the whole rune,
// not its first byte, and a byte that starts no UTF-8 character as such.
func charAt(s string, i int) string {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return fmt.Sprintf("the byte 0x%02x (not UTF-8)", s[i])
	}
	return fmt.Sprintf("the character %q", r)
}

func idChar(c byte) bool { return idChars[c] }

// idChars holds which bytes an id may have: one load per byte, where the
// comparisons cost seven (every order's ids are checked).
var idChars = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	return t
}()
