package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/server"
)

// newNkey returns a user key pair and its public key.
func newNkey(t testing.TB) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return kp, pub
}

func bcryptOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// tryConnect connects through nats.go without retries and returns the
// error, closing a connection that succeeded after a round trip.
func tryConnect(t testing.TB, s *server.Server, opts ...nats.Option) error {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), append(opts, nats.NoReconnect(), nats.Timeout(5*time.Second))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.Flush()
}

func TestAuthThroughNatsGo(t *testing.T) {
	kp, pub := newNkey(t)
	other, _ := newNkey(t)
	signWith := func(k nkeys.KeyPair) nats.Option {
		p, _ := k.PublicKey()
		return nats.Nkey(p, func(nonce []byte) ([]byte, error) { return k.Sign(nonce) })
	}
	// nkey users need the public key in CONNECT to be the registered one.
	impostor := nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return other.Sign(nonce) })

	users := auth.Config{Users: []auth.User{
		{Name: "alice", Password: "s3cret"},
		{Name: "bob", Password: bcryptOf(t, "hunter2")},
		{Nkey: pub},
	}}
	tests := []struct {
		name string
		cfg  auth.Config
		opt  nats.Option
		ok   bool
	}{
		{"user good", auth.Config{User: "u", Password: "p"}, nats.UserInfo("u", "p"), true},
		{"user bad", auth.Config{User: "u", Password: "p"}, nats.UserInfo("u", "x"), false},
		{"user missing", auth.Config{User: "u", Password: "p"}, nil, false},
		{"user bcrypt", auth.Config{User: "u", Password: bcryptOf(t, "p")}, nats.UserInfo("u", "p"), true},
		{"token good", auth.Config{Token: "t0ken"}, nats.Token("t0ken"), true},
		{"token bad", auth.Config{Token: "t0ken"}, nats.Token("t0ke"), false},
		{"token bcrypt", auth.Config{Token: bcryptOf(t, "t0ken")}, nats.Token("t0ken"), true},
		{"users plain", users, nats.UserInfo("alice", "s3cret"), true},
		{"users bcrypt", users, nats.UserInfo("bob", "hunter2"), true},
		{"users bcrypt bad", users, nats.UserInfo("bob", "hunter3"), false},
		{"users unknown", users, nats.UserInfo("eve", "s3cret"), false},
		{"nkey good", users, signWith(kp), true},
		{"nkey unknown", users, signWith(other), false},
		{"nkey impostor", users, impostor, false},
		{"no_auth_user", auth.Config{Users: users.Users, NoAuthUser: "alice"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, server.Options{Auth: tt.cfg})
			var opts []nats.Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			err := tryConnect(t, s, opts...)
			if tt.ok {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				return
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("connect: %v, want %v", err, nats.ErrAuthorization)
			}
		})
	}
}

// TestAuthRaw checks the bytes a client sees, over raw TCP.
func TestAuthRaw(t *testing.T) {
	s := startServer(t, server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "u1", Password: "p1"}, {Name: "u2", Password: "p2"},
	}}})
	const violation = "-ERR 'Authorization Violation'\r\n<EOF>"
	tests := []struct{ name, send, want string }{
		{"ping first", "PING\r\n", violation},
		{"sub first", "SUB x 1\r\n", violation},
		{"pub first", "PUB x 1\r\na\r\n", violation},
		{"partial pub first", "PU", violation},
		{"garbage first", "XYZ\r\n", violation},
		{"blank line first", "\r\nCONNECT {}\r\n", violation},
		{"unknown op starting with C", "CX\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"no credentials", "CONNECT {\"verbose\":false}\r\nPING\r\n", violation},
		{"wrong password", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p2\"}\r\nPING\r\n", violation},
		{"ops after a refused CONNECT", "CONNECT {\"user\":\"u1\",\"pass\":\"x\"}\r\nSUB > 1\r\nPING\r\n", violation},
		{"malformed CONNECT", "CONNECT {\"user\":\r\n", "<EOF>"},
		{"oversized CONNECT", "CONNECT {\"user\":\"" + strings.Repeat("u", 5000) + "\"}\r\n", "-ERR 'maximum control line exceeded'\r\n<EOF>"},
		{"good", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\n", "PONG\r\n<open>"},
		{"good verbose", "CONNECT {\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\n", "+OK\r\nPONG\r\n<open>"},
		{"second CONNECT, same user", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nCONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\n", "PONG\r\n<open>"},
		{"second CONNECT, no credentials", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nCONNECT {\"verbose\":false}\r\nPING\r\n", "PONG\r\n<open>"},
		// nats-server v2.15.2 lets the connection become u2 here.
		{"second CONNECT as another user", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"user\":\"u2\",\"pass\":\"p2\"}\r\nPING\r\n", "PONG\r\n" + violation},
		{"second CONNECT, wrong password", "CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"x\"}\r\nPING\r\n", "PONG\r\n" + violation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.send(tt.send)
			if got := rc.readAll(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAuthInfo(t *testing.T) {
	_, pub := newNkey(t)
	for _, tt := range []struct {
		name            string
		cfg             auth.Config
		required, nonce bool
	}{
		{"none", auth.Config{}, false, false},
		{"token", auth.Config{Token: "t"}, true, false},
		{"user", auth.Config{User: "u", Password: "p"}, true, false},
		{"nkey", auth.Config{Users: []auth.User{{Nkey: pub}}}, true, true},
		// nats-server leaves auth_required out with no_auth_user.
		{"no_auth_user", auth.Config{Users: []auth.User{{Name: "u"}}, NoAuthUser: "u"}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, server.Options{Auth: tt.cfg})
			info := rawInfo(t, s.Addr().String())
			if _, ok := info["auth_required"]; ok != tt.required {
				t.Fatalf("auth_required present = %v in %v", ok, info)
			}
			nonce, ok := info["nonce"].(string)
			if ok != tt.nonce || (ok && len(nonce) != 15) {
				t.Fatalf("nonce %q in %v", nonce, info)
			}
			if ok && rawInfo(t, s.Addr().String())["nonce"] == nonce {
				t.Fatal("the same nonce twice")
			}
		})
	}
}

func TestAuthTimeout(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, server.Options{
		Auth:   auth.Config{Token: "t", Timeout: 200 * time.Millisecond},
		Logger: server.NewLogger(logs, true, false),
	})
	rc := dialRaw(t, s)
	start := time.Now()
	rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := rc.r.ReadString('\n'); err != nil || l != "-ERR 'Authentication Timeout'\r\n" {
		t.Fatalf("got %q, %v", l, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	if got := rc.readAll(); got != "<EOF>" {
		t.Fatalf("after the timeout: %q", got)
	}
	// An authenticated client outlives the timeout: its PONG comes after it.
	ok := dialRaw(t, s)
	ok.send("CONNECT {\"verbose\":false,\"auth_token\":\"t\"}\r\n")
	timer := time.NewTimer(400 * time.Millisecond) // twice the auth timeout
	<-timer.C
	ok.send("PING\r\n")
	if got := ok.readAll(); got != "PONG\r\n<open>" {
		t.Fatalf("authenticated client: %q", got)
	}
}

// TestAuthFailureLogged checks that a refused client is logged with its
// address and what it claimed, and never with the password.
func TestAuthFailureLogged(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, server.Options{
		Auth:   auth.Config{User: "u", Password: "p"},
		Logger: server.NewLogger(logs, false, true),
	})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"user\":\"u\",\"pass\":\"wr0ngpass\"}\r\n")
	if got := rc.readAll(); got != "-ERR 'Authorization Violation'\r\n<EOF>" {
		t.Fatalf("got %q", got)
	}
	local := rc.conn.LocalAddr().String()
	waitFor(t, func() bool { return strings.Contains(logs.String(), local+" - cid:") })
	out := logs.String()
	if !strings.Contains(out, `[ERR] `+local) || !strings.Contains(out, `authentication error - User "u"`) {
		t.Fatalf("log:\n%s", out)
	}
	if strings.Contains(out, "wr0ngpass") {
		t.Fatalf("the password is in the log (trace on):\n%s", out)
	}
}

// rawInfo dials addr and returns the fields of its INFO.
func rawInfo(t testing.TB, addr string) map[string]any {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q, %v", line, err)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(line[5:]), &info); err != nil {
		t.Fatal(err)
	}
	return info
}
