package watch

import (
	"io"
	"testing"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// TestJavaScriptClientAuth runs tests/js/auth.test.mjs: @nats-io/transport-node
// connecting with user/password and with a token (and being refused,
// with an AuthorizationError, for wrong or missing credentials), then a
// KV put/get through @nats-io/kv on the authenticated connection. It
// starts one cairn with a user/password and one with a token and passes
// their URLs and credentials to node in the environment.
func TestJavaScriptClientAuth(t *testing.T) {
	const (
		user  = "jsuser"
		pass  = "js-s3cret"
		token = "js-t0ken"
	)
	withUser := startAuthDaemon(t, auth.Config{User: user, Password: pass})
	withToken := startAuthDaemon(t, auth.Config{Token: token})
	runNodeTest(t, "auth.test.mjs",
		"CAIRN_USER_URL="+withUser.ClientURL(),
		"CAIRN_USER="+user,
		"CAIRN_PASS="+pass,
		"CAIRN_TOKEN_URL="+withToken.ClientURL(),
		"CAIRN_TOKEN="+token,
	)
}

// startAuthDaemon runs cairn on a free loopback port with a fresh store
// and the given authentication.
func startAuthDaemon(t *testing.T, ac auth.Config) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		StoreDir: t.TempDir(),
		Server: server.Options{
			Host:   "127.0.0.1",
			Port:   -1,
			Auth:   ac,
			Logger: server.NewLogger(io.Discard, false, false),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}
