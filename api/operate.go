package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/riskgate/riskgate/domain"
	"github.com/riskgate/riskgate/workflows"
)

// OperateRequest is the body of every mutating call. For the
// /v1/scopes/{scope}/… routes the scope comes from the path and may be
// omitted from the body.
type OperateRequest struct {
	Scope  string `json:"scope"`
	Reason string `json:"reason"`
	// Operator, when present, must equal the token's identity: the recorded
	// operator is always the authenticated one.
	Operator string `json:"operator,omitempty"`
	// CooldownSeconds sets the cooldown of a kill, or how much an extend adds.
	CooldownSeconds int64 `json:"cooldown_seconds,omitempty"`
	// MaxRatePerSecond is the rate a throttle allows.
	MaxRatePerSecond float64 `json:"max_rate_per_second,omitempty"`
	// AutoUnkill lets an operator kill end by itself after its cooldown.
	AutoUnkill bool `json:"auto_unkill,omitempty"`
	// CmdID makes a retried call idempotent; the Idempotency-Key header does
	// the same. Generated when absent.
	CmdID string `json:"cmd_id,omitempty"`
}

// op describes one mutating route.
type op struct {
	update string
	action domain.Action
	// scopeInPath: the scope is the {scope} URL parameter.
	scopeInPath bool
	check       func(*OperateRequest) error
}

var (
	opKill     = op{update: workflows.UpdateKill, action: domain.ActionKill}
	opUnkill   = op{update: workflows.UpdateUnkill, action: domain.ActionUnkill}
	opThrottle = op{update: workflows.UpdateThrottle, action: domain.ActionThrottle, check: func(r *OperateRequest) error {
		if !(r.MaxRatePerSecond > 0) {
			return errors.New("max_rate_per_second must be a positive number")
		}
		return nil
	}}
	opExtend = op{update: workflows.UpdateExtend, action: domain.ActionExtend, scopeInPath: true, check: func(r *OperateRequest) error {
		if r.CooldownSeconds <= 0 {
			return errors.New("cooldown_seconds must be a positive number of seconds to add")
		}
		return nil
	}}
	opPin   = op{update: workflows.UpdatePin, action: domain.ActionPin, scopeInPath: true}
	opUnpin = op{update: workflows.UpdateUnpin, action: domain.ActionUnpin, scopeInPath: true}
)

// maxReason bounds the free-text reason recorded in commands and states.
const maxReason = 1024

// operate returns the handler of one mutating route.
func (s *Server) operate(o op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := IdentityFrom(r.Context())
		var body OperateRequest
		if status, title, detail := decodeBody(r, &body); status != 0 {
			s.problem(w, r, status, title, detail)
			return
		}
		if o.scopeInPath {
			p, err := url.PathUnescape(chi.URLParam(r, "scope"))
			if err != nil {
				s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
				return
			}
			if body.Scope != "" && body.Scope != p {
				s.problem(w, r, http.StatusBadRequest, "Scope mismatch",
					fmt.Sprintf("the body names scope %q but the path names %q", body.Scope, p))
				return
			}
			body.Scope = p
		}
		scope, err := domain.ParseScope(body.Scope)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Invalid scope", err.Error())
			return
		}
		if scope == domain.Global && !id.Role.Allows(RoleAdmin) {
			s.problem(w, r, http.StatusForbidden, "Insufficient role",
				fmt.Sprintf("acting on GLOBAL needs the admin role; token %q has %s", id.Name, id.Role))
			return
		}
		if s.refuseImpersonation(w, r, scope, id, body.Operator) {
			return
		}
		body.Reason = strings.TrimSpace(body.Reason)
		if body.Reason == "" {
			s.problem(w, r, http.StatusBadRequest, "Reason required", "every action must say why: send a non-empty reason")
			return
		}
		if len(body.Reason) > maxReason {
			s.problem(w, r, http.StatusBadRequest, "Reason too long", fmt.Sprintf("reason is %d bytes; the limit is %d", len(body.Reason), maxReason))
			return
		}
		if err := s.checkCooldown(body.CooldownSeconds); err != nil {
			s.problem(w, r, http.StatusBadRequest, "Invalid cooldown", err.Error())
			return
		}
		if o.check != nil {
			if err := o.check(&body); err != nil {
				s.problem(w, r, http.StatusBadRequest, "Invalid request", err.Error())
				return
			}
		}
		if !s.settleCmdID(w, r, &body.CmdID) {
			return
		}
		req := workflows.OperatorRequest{
			CmdID:            body.CmdID,
			Scope:            scope,
			Reason:           body.Reason,
			Operator:         id.Name,
			CooldownSeconds:  body.CooldownSeconds,
			MaxRatePerSecond: body.MaxRatePerSecond,
			AutoUnkill:       body.AutoUnkill,
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		st, err := s.control.Operate(ctx, o.update, req)
		log := s.log.With("action", o.action, "scope", scope, "operator", id.Name, "cmd_id", req.CmdID)
		if err != nil {
			s.updateFailed(w, r, log, string(o.action), "operator action failed",
				fmt.Sprintf("%s %s (cmd_id %s)", strings.ToLower(string(o.action)), scope, req.CmdID), err)
			return
		}
		s.metrics.actions.WithLabelValues(string(o.action), "ok").Inc()
		log.Info("operator action applied", "status", st.Status, "version", st.Version, "corr_id", st.CorrID, "reason", req.Reason)
		code := http.StatusOK
		if (o.action == domain.ActionUnkill || o.action == domain.ActionUnpin) && st.Status != domain.StatusActive && len(st.Approvals) > 0 {
			// Four eyes: the release (or unpin) waits for another operator.
			code = http.StatusAccepted
		}
		s.writeJSON(w, code, st)
	}
}

// refuseImpersonation answers 403 when a body claims an operator other than
// the token's identity, since the operator recorded is always the
// authenticated one. It reports whether it answered.
func (s *Server) refuseImpersonation(w http.ResponseWriter, r *http.Request, scope domain.Scope, id Identity, claimed string) bool {
	if claimed == "" || claimed == id.Name {
		return false
	}
	s.log.Warn("operator impersonation refused", "scope", scope, "token", id.Name, "claimed", claimed)
	s.problem(w, r, http.StatusForbidden, "Operator mismatch",
		fmt.Sprintf("token %q cannot act as operator %q; omit operator or send %q", id.Name, claimed, id.Name))
	return true
}

// settleCmdID makes *cmdID the call's command id: the body's, else the
// Idempotency-Key header's, else a new one. It answers 400 for an invalid
// one and reports whether the call may go on.
func (s *Server) settleCmdID(w http.ResponseWriter, r *http.Request, cmdID *string) bool {
	if k := r.Header.Get("Idempotency-Key"); k != "" && *cmdID == "" {
		*cmdID = k
	}
	if *cmdID == "" {
		*cmdID = domain.NewID()
		return true
	}
	if err := domain.ValidateID(*cmdID); err != nil {
		s.problem(w, r, http.StatusBadRequest, "Invalid cmd_id", "cmd_id / Idempotency-Key: "+err.Error())
		return false
	}
	return true
}

// updateFailed answers a workflow update for action that failed: counted
// as rejected (the workflow refused it) or error, logged as msg, and
// answered by its status; what names the call in the answer.
func (s *Server) updateFailed(w http.ResponseWriter, r *http.Request, log *slog.Logger, action, msg, what string, err error) {
	status := classify(err)
	outcome := "error"
	if status < 500 {
		outcome = "rejected"
	}
	s.metrics.actions.WithLabelValues(action, outcome).Inc()
	log.Warn(msg, "status", status, "err", err)
	s.upstreamProblem(w, r, status, what, err)
}

// checkCooldown bounds cooldown_seconds: beyond the maximum it is a mistake,
// and far beyond it cooldown_seconds × 1000 wraps and would move the
// cooldown into the past.
func (s *Server) checkCooldown(secs int64) error {
	limit := int64(s.cfg.MaxCooldown / time.Second)
	if secs < 0 || secs > limit {
		return fmt.Errorf("cooldown_seconds %d is outside 0..%d (the maximum is %s)", secs, limit, s.cfg.MaxCooldown)
	}
	return nil
}

// upstreamProblem writes the problem for a failed upstream call, by status.
func (s *Server) upstreamProblem(w http.ResponseWriter, r *http.Request, status int, what string, err error) {
	switch status {
	case http.StatusConflict:
		s.problem(w, r, status, "Conflict with the scope's state", rejection(err))
	case http.StatusNotFound:
		s.problem(w, r, status, "Not found", err.Error())
	case http.StatusBadRequest:
		s.problem(w, r, status, "Invalid request", rejection(err))
	case http.StatusServiceUnavailable:
		s.problem(w, r, status, "Temporal unavailable",
			fmt.Sprintf("%s: Temporal is unreachable or did not answer within %s, so the action may not have been applied; "+
				"the router keeps enforcing the last published state. Retry with the same cmd_id (Idempotency-Key) to apply it exactly once: %v", what, s.timeout, err))
	default:
		s.problem(w, r, http.StatusInternalServerError, "Upstream error", fmt.Sprintf("%s: %v", what, err))
	}
}

// rejection is the readable core of an update rejection: the workflow's own
// message without the SDK's decoration.
func rejection(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return app.Message()
	}
	return err.Error()
}

// decodeBody reads a JSON body into v. It returns a zero status on success,
// else the status, title and detail of the problem to send. A body that is
// not UTF-8 is refused: encoding/json would quietly put U+FFFD for its bad
// bytes, and an operator's reason would be recorded other than written.
func decodeBody(r *http.Request, v any) (int, string, string) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return http.StatusUnsupportedMediaType, "Unsupported content type", fmt.Sprintf("send application/json, not %q", ct)
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		if at := invalidUTF8(body); at >= 0 {
			return http.StatusBadRequest, "Invalid UTF-8", fmt.Sprintf("the byte 0x%02x at offset %d starts no UTF-8 character; send JSON in UTF-8", body[at], at)
		}
		err = decodeOne(json.NewDecoder(bytes.NewReader(body)), v)
	}
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return 0, "", ""
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "Request body too large", fmt.Sprintf("the limit is %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "Missing body", "send a JSON object"
	default:
		return http.StatusBadRequest, "Malformed JSON", err.Error()
	}
}

// decodeOne decodes one JSON value into v; anything after it must be
// whitespace.
func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// invalidUTF8 is the offset of the first byte of b that starts no UTF-8
// character, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
