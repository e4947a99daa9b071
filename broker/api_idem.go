package broker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
)

// maxIdemKeyLen bounds an Idempotency-Key.
const maxIdemKeyLen = 200

// idempotent runs a write at most once per (token, Idempotency-Key): the
// key is claimed through the replicated state before the write runs and
// the response is recorded after it, so a retry on any node gets the same
// answer. Reusing a key for a different request is refused.
func (a *API) idempotent(w http.ResponseWriter, r *http.Request, p Principal, h handler) {
	key := r.Header.Get(HeaderIdempotencyKey)
	if len(key) > maxIdemKeyLen {
		writeError(w, apiErr("bad_request", "Idempotency-Key is longer than %d characters", maxIdemKeyLen))
		return
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			writeError(w, apiErr("bad_request", "Idempotency-Key has a character that is not printable ASCII at position %d", i+1))
			return
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, bodyErr(err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery, p.Scope} {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	sum.Write(body)
	hash := hex.EncodeToString(sum.Sum(nil))
	full := p.TokenID + "/" + key

	var out idemOutcome
	if err := a.b.propose(r.Context(), p.actor(), CmdIdemBegin, idemBegin{Key: full, Hash: hash}, &out); err != nil {
		writeError(w, err)
		return
	}
	switch out.Outcome {
	case idemReplay:
		if out.Body == nil {
			writeError(w, apiErr("conflict", "a request with Idempotency-Key %q already succeeded (status %d); its response was too large to keep", key, out.Status))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderReplayed, "true")
		w.WriteHeader(out.Status)
		w.Write(out.Body)
		return
	case idemInProgress:
		writeError(w, apiErr("conflict", "a request with Idempotency-Key %q is still in progress; retry later", key))
		return
	case idemMismatch:
		writeError(w, apiErr("idempotency_mismatch", "Idempotency-Key %q was already used for a different request", key))
		return
	}
	rec := &recorder{ResponseWriter: w, limit: maxIdemBody}
	ctl := &replayControl{}
	h(rec, r.WithContext(context.WithValue(r.Context(), replayKey{}, ctl)), p)
	status, stored := rec.status(), rec.buf.Bytes()
	if rec.over {
		stored = nil
	}
	if ctl.set {
		status, stored = ctl.status, ctl.body
	}
	end := idemEnd{Key: full, Hash: hash, Status: status, Body: stored}
	// Record the outcome even if the client has gone away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.cfg.ReadTimeout)
	defer cancel()
	if err := a.b.propose(ctx, p.actor(), CmdIdemEnd, end, nil); err != nil {
		a.b.cfg.Logger.Warn("recording idempotent response", "key", key, "err", err)
	}
}

type replayKey struct{}

// replayControl lets a handler store a different response for replays than
// the one it sent (token creation must not keep the secret).
type replayControl struct {
	set    bool
	status int
	body   []byte
}

// setReplay makes retries of this request get status and body instead of
// the response sent now. It does nothing without an Idempotency-Key.
func setReplay(r *http.Request, status int, body []byte) {
	if c, ok := r.Context().Value(replayKey{}).(*replayControl); ok {
		c.set, c.status, c.body = true, status, body
	}
}

// recorder passes a response through and keeps a copy of its body up to a
// limit.
type recorder struct {
	http.ResponseWriter
	code  int
	buf   bytes.Buffer
	limit int
	over  bool
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if !r.over {
		if r.buf.Len()+len(b) > r.limit {
			r.over = true
			r.buf.Reset()
		} else {
			r.buf.Write(b)
		}
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}
