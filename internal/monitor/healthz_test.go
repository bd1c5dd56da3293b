package monitor_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
)

// healthStatus is /healthz's answer, from nats-server's documented
// fields.
type healthStatus struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Errors []struct {
		Type  string `json:"type"`
		Error string `json:"error"`
	} `json:"errors"`
}

func TestHealthzOK(t *testing.T) {
	d := startDaemon(t, nil)
	for _, q := range []string{"", "?js-enabled-only=true", "?js-server-only=true", "?js-enabled-only=1&js-server-only=false"} {
		code, body := get(t, d.MonitorURL()+"/healthz"+q)
		if code != http.StatusOK || string(body) != `{"status":"ok"}` {
			t.Errorf("/healthz%s: %d %s", q, code, body)
		}
	}
	var hs healthStatus
	getJSON(t, d.MonitorURL()+"/healthz?stream=s", http.StatusBadRequest, &hs)
	if hs.Status != "error" || hs.Error != `"account" must not be empty when checking stream health` {
		t.Errorf("stream without account: %+v", hs)
	}
	if code, body := get(t, d.MonitorURL()+"/healthz?js-server-only=maybe"); code != http.StatusBadRequest {
		t.Errorf("bad boolean: %d %s", code, body)
	}
}

// TestHealthzWithoutJetStream: a server without KV is healthy, as
// nats-server without JetStream.
func TestHealthzWithoutJetStream(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.DisableKV = true })
	if code, body := get(t, d.MonitorURL()+"/healthz"); code != http.StatusOK || string(body) != `{"status":"ok"}` {
		t.Errorf("/healthz: %d %s", code, body)
	}
}

// fakeJetStream is a JetStream whose health is set by the test.
type fakeJetStream struct {
	health func(ctx context.Context) error
}

func (f fakeJetStream) Health(ctx context.Context) error      { return f.health(ctx) }
func (f fakeJetStream) Varz() monitor.JetStreamVarz           { return monitor.JetStreamVarz{} }
func (f fakeJetStream) JszAccounts(bool) []monitor.JszAccount { return nil }

// startMonitor runs a monitor over a plain server and js.
func startMonitor(t *testing.T, js monitor.JetStream, timeout time.Duration) *monitor.Monitor {
	t.Helper()
	log := server.NewLogger(io.Discard, false, false)
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	m, err := monitor.Start(monitor.Options{Host: "127.0.0.1", Port: -1, Core: srv, JetStream: js, Logger: log, HealthTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestHealthzUnavailable: a store that fails, or does not answer in
// time, makes /healthz answer 503 unavailable with the error (and
// "error" with the details list); js-enabled-only and js-server-only do
// not look at the stores.
func TestHealthzUnavailable(t *testing.T) {
	failing := fakeJetStream{health: func(context.Context) error { return errors.New("disk on fire") }}
	m := startMonitor(t, failing, time.Second)
	url := "http://" + m.Addr().String() + "/healthz"
	var hs healthStatus
	getJSON(t, url, http.StatusServiceUnavailable, &hs)
	if hs.Status != "unavailable" || hs.Error != "disk on fire" {
		t.Errorf("failing store: %+v", hs)
	}
	hs = healthStatus{}
	getJSON(t, url+"?details=true", http.StatusServiceUnavailable, &hs)
	if hs.Status != "error" || len(hs.Errors) != 1 || hs.Errors[0].Type != "JETSTREAM" || hs.Errors[0].Error != "disk on fire" {
		t.Errorf("details: %+v", hs)
	}
	for _, q := range []string{"?js-enabled-only=true", "?js-server-only=true"} {
		if code, body := get(t, url+q); code != http.StatusOK {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}

	release := make(chan struct{})
	stuck := fakeJetStream{health: func(ctx context.Context) error { <-release; return nil }}
	m = startMonitor(t, stuck, 50*time.Millisecond)
	t.Cleanup(func() { close(release) }) // before m.Close, which waits for the check
	url = "http://" + m.Addr().String() + "/healthz"
	for i := 0; i < 3; i++ { // one check in flight, joined by the later requests
		hs = healthStatus{}
		getJSON(t, url, http.StatusServiceUnavailable, &hs)
		if hs.Status != "unavailable" || hs.Error != monitor.ErrHealthTimeout.Error() {
			t.Errorf("stuck store: %+v", hs)
		}
	}
}
