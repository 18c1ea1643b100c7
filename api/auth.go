package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Role is what a token may do. Roles are ordered: each includes the ones
// below it.
type Role string

// Roles, from the least to the most powerful.
const (
	// RoleViewer reads states, audit, signals and events.
	RoleViewer Role = "viewer"
	// RoleOperator also kills, unkills, throttles, extends and pins scopes
	// other than GLOBAL.
	RoleOperator Role = "operator"
	// RoleAdmin also acts on GLOBAL.
	RoleAdmin Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether a token with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// Identity is the authenticated caller: the token's name is the operator
// recorded in every command it issues.
type Identity struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// TokenEntry is one token of the tokens file. Only the SHA-256 of the token is
// stored: tokens are 256-bit random strings, so a fast hash is enough to make
// the file useless to whoever reads it.
type TokenEntry struct {
	// Name identifies the holder; it is recorded as the operator.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `json:"sha256"`
}

// TokensFile is the JSON layout of a tokens file:
//
//	{"tokens": [{"name": "alice", "role": "operator", "sha256": "…"}]}
type TokensFile struct {
	Tokens []TokenEntry `json:"tokens"`
}

// Tokens authenticates bearer tokens. The zero value accepts none.
type Tokens struct {
	byHash map[[sha256.Size]byte]Identity
}

// NewTokens builds a token set from entries, checking names, roles and hashes.
func NewTokens(entries []TokenEntry) (*Tokens, error) {
	t := &Tokens{byHash: make(map[[sha256.Size]byte]Identity, len(entries))}
	names := make(map[string]bool, len(entries))
	for i, e := range entries {
		if e.Name == "" {
			return nil, fmt.Errorf("token %d: name is required", i)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("token %q: name appears twice", e.Name)
		}
		names[e.Name] = true
		if e.Role.rank() == 0 {
			return nil, fmt.Errorf("token %q: role %q is not viewer, operator or admin", e.Name, e.Role)
		}
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("token %q: sha256 must be 64 hex digits", e.Name)
		}
		var h [sha256.Size]byte
		copy(h[:], raw)
		if _, dup := t.byHash[h]; dup {
			return nil, fmt.Errorf("token %q: same token as another entry", e.Name)
		}
		t.byHash[h] = Identity{Name: e.Name, Role: e.Role}
	}
	return t, nil
}

// LoadTokens reads a tokens file (see TokensFile).
func LoadTokens(path string) (*Tokens, error) {
	entries, err := LoadTokenEntries(path)
	if err != nil {
		return nil, err
	}
	t, err := NewTokens(entries)
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return t, nil
}

// LoadTokenEntries reads the entries of a tokens file (see TokensFile),
// checking each as NewTokens does.
func LoadTokenEntries(path string) ([]TokenEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	var f TokensFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse tokens file %s: %w", path, err)
	}
	if _, err := NewTokens(f.Tokens); err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return f.Tokens, nil
}

// DevTokenName is the identity of the token DevTokens makes.
const DevTokenName = "dev"

// DevTokens returns a set holding one admin token named "dev", for the
// embedded dev stack, and the extra entries (riskgate dev --tokens), so
// that flows needing a second operator can be walked through locally.
func DevTokens(token string, extra ...TokenEntry) (*Tokens, error) {
	if len(token) < 16 {
		return nil, errors.New("dev token must be at least 16 characters")
	}
	for _, e := range extra {
		if e.Name == DevTokenName {
			return nil, fmt.Errorf("token %q: the name is the dev token's; choose another", e.Name)
		}
	}
	t, err := NewTokens(append([]TokenEntry{{Name: DevTokenName, Role: RoleAdmin, SHA256: HashToken(token)}}, extra...))
	if err != nil {
		return nil, fmt.Errorf("dev tokens: %w", err)
	}
	return t, nil
}

// NewToken returns a fresh random token (256 bits, "rg_" + hex).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return "rg_" + hex.EncodeToString(b[:])
}

// HashToken is the hex SHA-256 of token, as stored in a tokens file.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Authenticate returns the identity of token.
func (t *Tokens) Authenticate(token string) (Identity, bool) {
	if t == nil || token == "" {
		return Identity{}, false
	}
	// The lookup is keyed by the token's hash, so its timing tells an
	// attacker nothing useful about any stored token.
	id, ok := t.byHash[sha256.Sum256([]byte(token))]
	return id, ok
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byHash)
}

type identityKey struct{}

// IdentityFrom returns the identity authenticated for the request, if any.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// bearer extracts the token of an "Authorization: Bearer …" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// require is middleware that lets a request through only with a token whose
// role allows need.
func (s *Server) require(need Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := bearer(r)
			if tok == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="riskgate"`)
				s.problem(w, r, http.StatusUnauthorized, "Missing bearer token", "send Authorization: Bearer <token>")
				return
			}
			id, ok := s.tokens.Authenticate(tok)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="riskgate", error="invalid_token"`)
				s.problem(w, r, http.StatusUnauthorized, "Invalid bearer token", "the token is not known")
				return
			}
			if !id.Role.Allows(need) {
				s.problem(w, r, http.StatusForbidden, "Insufficient role",
					fmt.Sprintf("token %q has role %s; this call needs %s", id.Name, id.Role, need))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
		})
	}
}
