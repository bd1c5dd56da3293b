package daemon

import (
	"io"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// An account named as the global one ("$G", or "") is the global
// account's namespace: configured with JetStream, it got a second API
// next to the global account's 10039 answers, and each request two
// answers. Start refuses it, as nats-server refuses "$G".
func TestStartRefusesGlobalAccountName(t *testing.T) {
	for _, name := range []string{server.GlobalAccount, ""} {
		cfg := Config{StoreDir: t.TempDir(), Accounts: []Account{{Name: name, JetStream: &jsapi.AccountLimits{}}}}
		cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
		cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
		d, err := Start(cfg)
		if err == nil {
			d.Shutdown()
			t.Fatalf("account %q: started", name)
		}
		if !strings.Contains(err.Error(), "reserved") {
			t.Fatalf("account %q: %v", name, err)
		}
	}
}
