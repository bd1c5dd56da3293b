package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// HealthStatus is the answer of /healthz (nats-server's field names).
type HealthStatus struct {
	Status string         `json:"status"`
	Error  string         `json:"error,omitempty"`
	Errors []HealthzError `json:"errors,omitempty"`
}

// HealthzError is one failure, listed with details=true.
type HealthzError struct {
	Type  string `json:"type"` // BAD_REQUEST, JETSTREAM, ACCOUNT
	Error string `json:"error,omitempty"`
}

// handleHealthz answers /healthz as nats-server does on a single
// server: 200 {"status":"ok"} when the server serves clients and, with
// JetStream, every account's store answers a read within the health
// timeout; 503 {"status":"unavailable","error":...} when a store does
// not. js-server-only=true checks the server alone, js-enabled-only=true
// (or the deprecated js-enabled) only that JetStream is on; details=true
// lists errors under "errors" with status "error". A stream or consumer
// without its account or stream is a 400, as for nats-server; Cairn
// does not check single streams or consumers yet (their parameters are
// otherwise ignored).
func (m *Monitor) handleHealthz(w http.ResponseWriter, r *http.Request) {
	m.count(HealthzPath)
	var jsEnabled, jsEnabledOnly, jsServerOnly, details, ok bool
	for _, p := range []struct {
		name string
		dst  *bool
	}{{"js-enabled", &jsEnabled}, {"js-enabled-only", &jsEnabledOnly}, {"js-server-only", &jsServerOnly}, {"details", &details}} {
		if *p.dst, ok = queryBool(w, r, p.name); !ok {
			return
		}
	}
	if jsEnabled {
		m.opts.Logger.Warnf("Healthcheck: js-enabled deprecated, use js-enabled-only instead")
	}
	q := r.URL.Query()
	code, kind, err := http.StatusOK, "", error(nil)
	switch {
	case q.Get("account") == "" && q.Get("stream") != "":
		code, kind, err = http.StatusBadRequest, "BAD_REQUEST", fmt.Errorf("%q must not be empty when checking stream health", "account")
	case q.Get("stream") == "" && q.Get("consumer") != "":
		code, kind, err = http.StatusBadRequest, "BAD_REQUEST", fmt.Errorf("%q must not be empty when checking consumer health", "stream")
	case jsServerOnly || m.opts.JetStream == nil || jsEnabled || jsEnabledOnly:
		// The server serves clients once the monitor runs (the daemon
		// starts it after the listener and stops it first).
	default:
		if err = m.health.check(m.opts.JetStream, m.opts.HealthTimeout); err != nil {
			code, kind = http.StatusServiceUnavailable, "JETSTREAM"
		}
	}
	hs := HealthStatus{Status: "ok"}
	switch {
	case err != nil && details:
		hs.Status = "error"
		hs.Errors = []HealthzError{{Type: kind, Error: err.Error()}}
	case err != nil && code == http.StatusBadRequest:
		hs.Status, hs.Error = "error", err.Error()
	case err != nil:
		hs.Status, hs.Error = "unavailable", err.Error()
	}
	if err != nil {
		m.opts.Logger.Warnf("Healthcheck failed: %q", err.Error())
	}
	b, _ := json.Marshal(&hs)
	respond(w, code, b)
}

// ErrHealthTimeout is the health failure of stores that did not answer
// in time.
var ErrHealthTimeout = errors.New("JetStream storage did not answer in time")

// healthCheck runs at most one store check at a time: a request that
// finds one in flight (a slow or stuck disk) waits for that one rather
// than starting another, so requests cannot pile up goroutines on a
// stuck store.
type healthCheck struct {
	mu      sync.Mutex
	running chan struct{}  // closed when the check in flight ends; nil: none
	err     error          // the last check's result, set before running closes
	wg      sync.WaitGroup // the check in flight
}

// wait returns when no check is in flight.
func (h *healthCheck) wait() { h.wg.Wait() }

// check returns the stores' health, or ErrHealthTimeout when no check
// ends within timeout.
func (h *healthCheck) check(js JetStream, timeout time.Duration) error {
	h.mu.Lock()
	done := h.running
	if done == nil {
		done = make(chan struct{})
		h.running = done
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := js.Health(ctx)
			cancel()
			h.mu.Lock()
			h.err, h.running = err, nil
			h.mu.Unlock()
			close(done)
		}()
	}
	h.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	case <-t.C:
		return ErrHealthTimeout
	}
}
