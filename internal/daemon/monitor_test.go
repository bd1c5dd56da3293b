package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// TestHealthzStoreClosed: /healthz reads from each account's store, and
// answers 503 unavailable once the store can no longer be read.
func TestHealthzStoreClosed(t *testing.T) {
	cfg := Config{StoreDir: t.TempDir(), HTTPPort: -1}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	st := d.js[0].st
	s, err := st.CreateStream(store.Config{Name: "h", Subjects: []string{"h.>"}, Storage: store.FileStorage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("h.a", nil, []byte("x"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
	healthz := func() (int, map[string]string) {
		resp, err := http.Get(d.MonitorURL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var hs map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&hs); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, hs
	}
	if code, hs := healthz(); code != http.StatusOK || hs["status"] != "ok" {
		t.Fatalf("healthy store: %d %v", code, hs)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := (jetStreamMonitor{d}).Health(context.Background()); err == nil {
		t.Fatal("closed store reported healthy")
	}
	code, hs := healthz()
	if code != http.StatusServiceUnavailable || hs["status"] != "unavailable" || !strings.Contains(hs["error"], `account "$G"`) {
		t.Fatalf("closed store: %d %v", code, hs)
	}
}

// TestMonitorPortInUse: a monitoring port that cannot be bound fails
// Start, as nats-server does not run without the monitor it was asked
// for, and leaves nothing running.
func TestMonitorPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Config{StoreDir: t.TempDir(), HTTPPort: ln.Addr().(*net.TCPAddr).Port}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := Start(cfg)
	if err == nil {
		d.Shutdown()
		t.Fatal("started with the monitoring port in use")
	}
	if !strings.Contains(err.Error(), "monitor port") {
		t.Fatalf("error %v", err)
	}
	// The store was closed: it opens again.
	cfg.HTTPPort = 0
	d, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Shutdown()
}
