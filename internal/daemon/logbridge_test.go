package daemon

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/cairn-db/cairn/internal/server"
)

// TestLogBridgeJSON: the store's slog records reach the server's logger
// with their attributes as JSON fields, and debug records only with -D.
func TestLogBridgeJSON(t *testing.T) {
	var out bytes.Buffer
	log, err := server.OpenLogger(server.LogConfig{JSON: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	sl := slog.New(&logHandler{log: log}).With("account", "A")
	sl.Debug("not shown")
	sl.Warn("slow fsync", "took", "1.5s", "n", 3)
	var e struct {
		Level, Msg string
		Attrs      map[string]string
	}
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	want := map[string]string{"account": "A", "took": "1.5s", "n": "3"}
	if e.Level != "warn" || e.Msg != "slow fsync" || len(e.Attrs) != 3 {
		t.Fatalf("%+v", e)
	}
	for k, v := range want {
		if e.Attrs[k] != v {
			t.Errorf("attr %s = %q, want %q", k, e.Attrs[k], v)
		}
	}
}
