package workflows

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/riskgate/riskgate/domain"
)

// Operator identity on the Temporal path. Anyone with write access to the
// namespace can send an update naming any operator; riskgate's API, which
// authenticated the operator, proves it by signing the request with a key
// it shares with the workers (HMAC-SHA256, in the IdentityHeader of the
// update). The worker checks the proof: a request it holds is verified,
// anything else (the Web UI, the temporal CLI, a bad or expired proof) is
// claimed. Both are applied; four eyes count verified identities only
// (Settings.FourEyesAcceptClaimed relaxes that).

// IdentityHeader is the Temporal header holding an update's IdentityProof.
const IdentityHeader = "riskgate-identity"

// A proof is valid for identityTTL after it was issued: long enough for an
// update the API sends to reach a busy worker, short enough that a proof
// copied out of a workflow history cannot be replayed against a later
// incident. identitySkew tolerates the API's clock running ahead of
// Temporal's.
const (
	identityTTL  = 2 * time.Minute
	identitySkew = time.Minute
)

// minIdentityKey is the shortest key accepted, in bytes: 256 bits.
const minIdentityKey = 32

// IdentityKeys are the keys shared by riskgate's API and its workers. The
// first signs; every one verifies, so a key is rotated by adding the new
// one second everywhere, then moving it first, then dropping the old one.
type IdentityKeys [][]byte

// ParseIdentityKeys reads keys from text, one a line; blank lines and lines
// starting with # are skipped. Each key must be at least 32 bytes.
func ParseIdentityKeys(text []byte) (IdentityKeys, error) {
	var keys IdentityKeys
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if len(line) < minIdentityKey {
			return nil, fmt.Errorf("identity key on line %d is %d bytes; at least %d are needed (make one with: openssl rand -hex 32)",
				n, len(line), minIdentityKey)
		}
		keys = append(keys, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read identity keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("no identity key found (one key a line, at least 32 bytes)")
	}
	return keys, nil
}

// NewIdentityKey returns a fresh random key (256 bits, hex) for a key file.
func NewIdentityKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// UpdateTarget is where an operator update goes.
type UpdateTarget struct {
	WorkflowID string
	// RunID is the run the update is for: the open run of the scope (one
	// incident), so that a proof copied out of one incident's history
	// proves nothing in the next. Empty for an update that may start the
	// run (UpdateWithStart: kill and throttle).
	RunID  string
	Update string
}

// IdentityProof is the value of the IdentityHeader: a MAC over the whole
// request and its target, valid from Issued to Expires (Unix ms).
type IdentityProof struct {
	Run     string `json:"run,omitempty"`
	Issued  int64  `json:"issued"`
	Expires int64  `json:"expires"`
	MAC     []byte `json:"mac"`
}

// IdentityCheck is a worker's verdict on an update's operator.
type IdentityCheck struct {
	Identity domain.Identity `json:"identity"`
	// Why says, for a claimed identity, what was missing or wrong.
	Why string `json:"why,omitempty"`
}

// Verified reports whether the check verified the operator.
func (c IdentityCheck) Verified() bool { return c.Identity == domain.IdentityVerified }

func claimed(why string) IdentityCheck {
	return IdentityCheck{Identity: domain.IdentityClaimed, Why: why}
}

// SignedRequest is an update payload a proof covers field by field: an
// OperatorRequest (KillSwitch) or a LimitsRequest (Limits).
type SignedRequest interface {
	// identityFields are the request's fields in a fixed order, each
	// rendered exactly (the MAC covers them all).
	identityFields() []string
}

func (req OperatorRequest) identityFields() []string {
	return []string{
		req.CmdID, string(req.Scope), req.Operator, req.Reason,
		strconv.FormatInt(req.CooldownSeconds, 10),
		strconv.FormatFloat(req.MaxRatePerSecond, 'g', -1, 64),
		strconv.FormatBool(req.AutoUnkill),
	}
}

// identityFields of a Limits request start with a tag, so that no Limits
// request encodes like a KillSwitch one; Admin is covered, since it is what
// lets a change beyond the ceilings be requested.
func (req LimitsRequest) identityFields() []string {
	lim, err := json.Marshal(req.Limits)
	if err != nil {
		// LimitValues of finite numbers always encode; anything else
		// signs as an unmatchable marker and is recorded as claimed.
		lim = []byte("!" + err.Error())
	}
	return []string{
		"limits", req.CmdID, req.CorrID, string(req.Scope), req.Operator, req.Reason,
		string(lim), strings.Join(req.Clear, ","),
		strconv.FormatInt(req.DurationSeconds, 10), strconv.FormatInt(req.Until, 10),
		strconv.FormatBool(req.Admin),
	}
}

// identityMessage is what a proof's MAC covers: the update, its workflow
// and run, and every field of the request, each length-prefixed so that no
// two requests encode alike.
func identityMessage(to UpdateTarget, req SignedRequest, issued, expires int64) []byte {
	fields := append([]string{"riskgate-identity/v1", to.WorkflowID, to.RunID, to.Update}, req.identityFields()...)
	fields = append(fields, strconv.FormatInt(issued, 10), strconv.FormatInt(expires, 10))
	var b []byte
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// Sign returns the proof that req, sent to its target at now, comes from
// the holder of the first key.
func (k IdentityKeys) Sign(to UpdateTarget, req SignedRequest, now time.Time) (IdentityProof, error) {
	if len(k) == 0 {
		return IdentityProof{}, errors.New("sign operator identity: no identity key")
	}
	p := IdentityProof{Run: to.RunID, Issued: now.UnixMilli(), Expires: now.Add(identityTTL).UnixMilli()}
	p.MAC = mac(k[0], identityMessage(to, req, p.Issued, p.Expires))
	return p, nil
}

// Run is a run as the worker sees it, for Verify.
type Run struct {
	ID    string
	Start time.Time
}

// Verify checks proof against req, received by a run of to.WorkflowID as
// to.Update at now (to.RunID is ignored: the proof says which run it was
// signed for).
func (k IdentityKeys) Verify(to UpdateTarget, run Run, req SignedRequest, p IdentityProof, now time.Time) IdentityCheck {
	if len(k) == 0 {
		return claimed("the worker has no identity key")
	}
	to.RunID = p.Run
	msg := identityMessage(to, req, p.Issued, p.Expires)
	match := false
	for _, key := range k {
		match = match || hmac.Equal(mac(key, msg), p.MAC)
	}
	t := now.UnixMilli()
	switch {
	case !match:
		return claimed("the signature does not match the request (altered, or signed with another key)")
	case p.Run != "" && p.Run != run.ID:
		return claimed("the signature is for run " + p.Run + ", an earlier incident of the scope")
	case p.Run == "" && p.Issued < run.Start.Add(-identitySkew).UnixMilli():
		return claimed("the signature was issued before this run started")
	case p.Expires-p.Issued > identityTTL.Milliseconds():
		return claimed("the signature is valid for longer than " + identityTTL.String())
	case t >= p.Expires:
		return claimed("the signature expired at " + time.UnixMilli(p.Expires).UTC().Format(time.RFC3339))
	case p.Issued > t+identitySkew.Milliseconds():
		return claimed("the signature was issued in the future, at " + time.UnixMilli(p.Issued).UTC().Format(time.RFC3339))
	}
	return IdentityCheck{Identity: domain.IdentityVerified}
}

// SignHeader writes the proof of req, sent to its target at now, into a
// Temporal header.
func (k IdentityKeys) SignHeader(header map[string]*commonpb.Payload, to UpdateTarget, req SignedRequest, now time.Time) error {
	if header == nil {
		return errors.New("sign operator identity: no Temporal header to write to")
	}
	p, err := k.Sign(to, req, now)
	if err != nil {
		return err
	}
	payload, err := converter.GetDefaultDataConverter().ToPayload(p)
	if err != nil {
		return fmt.Errorf("sign operator identity: encode proof: %w", err)
	}
	header[IdentityHeader] = payload
	return nil
}

// VerifyHeader checks the proof in a Temporal header (claimed when there is
// none or it does not decode).
func (k IdentityKeys) VerifyHeader(header map[string]*commonpb.Payload, to UpdateTarget, run Run, req SignedRequest, now time.Time) IdentityCheck {
	payload, ok := header[IdentityHeader]
	if !ok {
		return claimed("no signature: not sent through riskgate's API")
	}
	var p IdentityProof
	if err := converter.GetDefaultDataConverter().FromPayload(payload, &p); err != nil {
		return claimed("the signature header does not decode: " + err.Error())
	}
	return k.Verify(to, run, req, p, now)
}
