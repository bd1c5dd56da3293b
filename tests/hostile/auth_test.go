package hostile

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// authConn is a raw client that sends nothing on connect (dialRaw sends
// a CONNECT without credentials). It keeps the nonce from INFO.
type authConn struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	nonce string
}

func dialAuth(t *testing.T, addr string) *authConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ac := &authConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := ac.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q, %v", line, err)
	}
	var info struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(line[5:]), &info); err != nil {
		t.Fatal(err)
	}
	ac.nonce = info.Nonce
	return ac
}

func (ac *authConn) send(s string) {
	if _, err := ac.conn.Write([]byte(s)); err != nil {
		ac.t.Fatal(err)
	}
}

// untilClose reads what the server sends until it closes the connection.
func (ac *authConn) untilClose(within time.Duration) string {
	ac.t.Helper()
	ac.conn.SetReadDeadline(time.Now().Add(within))
	var b strings.Builder
	for {
		l, err := ac.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ac.t.Fatalf("still open after %v; got %q", within, b.String())
			}
			return b.String()
		}
	}
}

const violation = "-ERR 'Authorization Violation'\r\n"

// authTarget runs a daemon whose users are admin/secret and reader/r,
// with a bucket cfg holding k=v.
func authTarget(t *testing.T, cfg auth.Config) (*target, jetstream.KeyValue) {
	t.Helper()
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: cfg}})
	nc := connect(t, tg.URL, nats.UserInfo("admin", "secret"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	return tg, kv
}

// unchanged checks that no attack wrote to the bucket.
func unchanged(t *testing.T, kv jetstream.KeyValue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" || e.Revision() != 1 {
		t.Fatalf("k: %v, %v", e, err)
	}
	if _, err := kv.Get(ctx, "evil"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("evil: %v", err)
	}
}

var twoUsers = auth.Config{Users: []auth.User{{Name: "admin", Password: "secret"}, {Name: "reader", Password: "r"}}}

// TestAuthNoWriteWithoutCredentials sends KV writes that must never land:
// before CONNECT, after a refused CONNECT in the same packet, and after a
// second CONNECT that tries to become another user.
func TestAuthNoWriteWithoutCredentials(t *testing.T) {
	tg, kv := authTarget(t, twoUsers)
	for name, attack := range map[string]string{
		"PUB before CONNECT":          "PUB $KV.cfg.k 4\r\nevil\r\nPUB $KV.cfg.evil 1\r\nx\r\n",
		"HPUB before CONNECT":         "HPUB $KV.cfg.evil 12 13\r\nNATS/1.0\r\n\r\nx\r\n",
		"JS API before CONNECT":       "PUB $JS.API.STREAM.DELETE.KV_cfg 0\r\n\r\n",
		"PUB after refused CONNECT":   "CONNECT {\"user\":\"admin\",\"pass\":\"guess\"}\r\nPUB $KV.cfg.evil 1\r\nx\r\n",
		"PUB after empty CONNECT":     "CONNECT {}\r\nPUB $KV.cfg.evil 1\r\nx\r\n",
		"PUB after wrong-type fields": "CONNECT {\"user\":[\"admin\"],\"pass\":1}\r\nPUB $KV.cfg.evil 1\r\nx\r\n",
		"second CONNECT as admin":     "CONNECT {\"verbose\":false,\"user\":\"reader\",\"pass\":\"r\"}\r\nCONNECT {\"verbose\":false,\"user\":\"admin\",\"pass\":\"secret\"}\r\nPUB $KV.cfg.evil 1\r\nx\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			ac := dialAuth(t, tg.Addr)
			ac.send(attack)
			got := ac.untilClose(5 * time.Second)
			if got != violation && got != "" {
				t.Fatalf("got %q", got)
			}
		})
	}
	unchanged(t, kv)
}

// TestAuthSplitConnect sends a valid CONNECT one byte per write: the
// first-byte check must not refuse what follows it.
func TestAuthSplitConnect(t *testing.T) {
	tg, _ := authTarget(t, twoUsers)
	ac := dialAuth(t, tg.Addr)
	for _, b := range []byte("CONNECT {\"verbose\":false,\"user\":\"reader\",\"pass\":\"r\"}\r\nPING\r\n") {
		ac.send(string([]byte{b}))
	}
	ac.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := ac.r.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("got %q, %v", l, err)
	}
}

// TestAuthTimeoutClosesIdleConnections opens many connections that never
// authenticate: every one is closed by the auth timeout.
func TestAuthTimeoutClosesIdleConnections(t *testing.T) {
	cfg := twoUsers
	cfg.Timeout = 300 * time.Millisecond
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: cfg}})
	conns := make([]*authConn, 50)
	for i := range conns {
		conns[i] = dialAuth(t, tg.Addr)
	}
	// One sends half a CONNECT and stops: it is closed as well.
	conns[0].send("CONNECT {\"user\":\"adm")
	for _, ac := range conns {
		if got := ac.untilClose(5 * time.Second); got != "-ERR 'Authentication Timeout'\r\n" {
			t.Fatalf("got %q", got)
		}
	}
	eventually(t, 5*time.Second, "no clients left", func() bool { return tg.d.Server().NumClients() == 0 })
}

// TestAuthOversizedConnect sends a CONNECT beyond the control line limit.
func TestAuthOversizedConnect(t *testing.T) {
	tg, kv := authTarget(t, twoUsers)
	ac := dialAuth(t, tg.Addr)
	ac.send("CONNECT {\"user\":\"admin\",\"pass\":\"" + strings.Repeat("s", 1<<20) + "\"}\r\nPUB $KV.cfg.evil 1\r\nx\r\n")
	if got := ac.untilClose(5 * time.Second); got != "-ERR 'maximum control line exceeded'\r\n" {
		t.Fatalf("got %q", got)
	}
	unchanged(t, kv)
}

// TestAuthNonceReplay signs one connection's nonce and presents the
// signature on another: refused.
func TestAuthNonceReplay(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{{Nkey: pub}}}}})
	first := dialAuth(t, tg.Addr)
	sig, _ := kp.Sign([]byte(first.nonce))
	connect := "CONNECT {\"verbose\":false,\"nkey\":\"" + pub + "\",\"sig\":\"" + base64.RawURLEncoding.EncodeToString(sig) + "\"}\r\nPING\r\n"
	second := dialAuth(t, tg.Addr)
	if first.nonce == second.nonce || len(first.nonce) != 15 {
		t.Fatalf("nonces %q and %q", first.nonce, second.nonce)
	}
	second.send(connect)
	if got := second.untilClose(5 * time.Second); got != violation {
		t.Fatalf("replayed signature: %q", got)
	}
	first.send(connect)
	first.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := first.r.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("own signature: %q, %v", l, err)
	}
}

// TestAuthNoAuthUserIsNoFallback checks that wrong credentials are
// refused rather than taken as the no_auth_user.
func TestAuthNoAuthUserIsNoFallback(t *testing.T) {
	cfg := twoUsers
	cfg.NoAuthUser = "reader"
	tg, _ := authTarget(t, cfg)
	ac := dialAuth(t, tg.Addr)
	ac.send("CONNECT {\"user\":\"admin\",\"pass\":\"guess\"}\r\nPING\r\n")
	if got := ac.untilClose(5 * time.Second); got != violation {
		t.Fatalf("got %q", got)
	}
	anon := dialAuth(t, tg.Addr)
	anon.send("PING\r\n")
	anon.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := anon.r.ReadString('\n'); err != nil || l != "PONG\r\n" {
		t.Fatalf("no credentials: %q, %v", l, err)
	}
}
