package server_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// authScenario is what one raw client sends, given the nonce from INFO
// ("" when there is none).
type authScenario struct {
	name string
	send func(nonce string) string
	// differs, when set, says why Cairn answers otherwise than
	// nats-server; then cairn and peer are the two expected outcomes.
	differs     string
	cairn, peer string
}

// rawOutcome runs one scenario against addr: it returns which auth fields
// INFO had and what came back after INFO, up to the PONG that answers
// the last PING sent ("<open>") or the server closing ("<EOF>").
func rawOutcome(t *testing.T, addr string, sc authScenario) (info, got string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("INFO: %q, %v", line, err)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(line[5:]), &fields); err != nil {
		t.Fatal(err)
	}
	nonce, _ := fields["nonce"].(string)
	info = fmt.Sprintf("auth_required=%v nonce_len=%d", fields["auth_required"], len(nonce))
	send := sc.send(nonce)
	pings := strings.Count(send, "PING\r\n")
	if _, err := conn.Write([]byte(send)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("no PONG and no close within 5s; got %q", b.String())
			}
			return info, b.String() + "<EOF>"
		}
		if l == "PONG\r\n" {
			if pings--; pings <= 0 {
				return info, b.String() + "<open>"
			}
		}
	}
}

// diffAuth runs every scenario against a cairn server and the peer.
func diffAuth(t *testing.T, cairn *server.Server, peerURL string, scenarios []authScenario) {
	t.Helper()
	peerAddr := strings.TrimPrefix(peerURL, "nats://")
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ci, cg := rawOutcome(t, cairn.Addr().String(), sc)
			pi, pg := rawOutcome(t, peerAddr, sc)
			if ci != pi {
				t.Errorf("INFO: cairn %s, nats-server %s", ci, pi)
			}
			if sc.differs != "" {
				if cg != sc.cairn || pg != sc.peer {
					t.Errorf("%s: cairn %q (want %q), nats-server %q (want %q)", sc.differs, cg, sc.cairn, pg, sc.peer)
				}
				return
			}
			if cg != pg {
				t.Errorf("cairn %q, nats-server %q", cg, pg)
			}
		})
	}
}

func connectLine(fields string) func(string) string {
	return func(string) string { return "CONNECT {\"verbose\":false" + fields + "}\r\nPING\r\n" }
}

func fixed(s string) func(string) string { return func(string) string { return s } }

// commonScenarios are the bypass attempts every auth method must refuse.
var commonScenarios = []authScenario{
	{name: "PING first", send: fixed("PING\r\n")},
	{name: "SUB first", send: fixed("SUB > 1\r\nPING\r\n")},
	{name: "PUB first", send: fixed("PUB x 1\r\na\r\nPING\r\n")},
	{name: "partial PUB first", send: fixed("PU")},
	{name: "garbage first", send: fixed("XYZ\r\n")},
	{name: "blank line first", send: fixed("\r\nCONNECT {}\r\nPING\r\n")},
	{name: "unknown op starting with C", send: fixed("CX\r\n")},
	{name: "no credentials", send: connectLine("")},
	{name: "verbose no credentials", send: fixed("CONNECT {}\r\nPING\r\n")},
	{name: "malformed CONNECT", send: fixed("CONNECT {\"user\":\r\n")},
	{name: "oversized CONNECT", send: fixed("CONNECT {\"user\":\"" + strings.Repeat("u", 5000) + "\"}\r\nPING\r\n")},
	{name: "refused CONNECT then SUB", send: fixed("CONNECT {\"user\":\"nobody\",\"pass\":\"x\",\"auth_token\":\"x\"}\r\nSUB > 1\r\nPING\r\n")},
}

func TestAuthDifferentialUserPassword(t *testing.T) {
	cairn := startServer(t, server.Options{Auth: auth.Config{User: "u", Password: "p"}})
	peer := testserver.StartPeer(t, "--user", "u", "--pass", "p")
	diffAuth(t, cairn, peer.URL, append([]authScenario{
		{name: "good", send: connectLine(`,"user":"u","pass":"p"`)},
		{name: "good verbose", send: fixed("CONNECT {\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n")},
		{name: "wrong password", send: connectLine(`,"user":"u","pass":"x"`)},
		{name: "wrong user", send: connectLine(`,"user":"v","pass":"p"`)},
		{name: "token instead", send: connectLine(`,"auth_token":"p"`)},
		{name: "second CONNECT, same", send: fixed("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n")},
		{name: "second CONNECT, other user", send: fixed("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"user\":\"v\",\"pass\":\"p\"}\r\nPING\r\n")},
		{name: "second CONNECT, wrong password", send: fixed("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"pass\":\"x\"}\r\nPING\r\n")},
	}, commonScenarios...))
}

func TestAuthDifferentialToken(t *testing.T) {
	cairn := startServer(t, server.Options{Auth: auth.Config{Token: "s3cr3t"}})
	peer := testserver.StartPeer(t, "--auth", "s3cr3t")
	diffAuth(t, cairn, peer.URL, append([]authScenario{
		{name: "good", send: connectLine(`,"auth_token":"s3cr3t"`)},
		{name: "wrong token", send: connectLine(`,"auth_token":"s3cr3"`)},
		{name: "token as password", send: connectLine(`,"user":"u","pass":"s3cr3t"`)},
	}, commonScenarios...))
}

func TestAuthDifferentialUsersAndNkeys(t *testing.T) {
	kp, pub := newNkey(t)
	other, _ := newNkey(t)
	sig := func(k nkeys.KeyPair, nonce string, enc *base64.Encoding) string {
		s, err := k.Sign([]byte(nonce))
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeToString(s)
	}
	nkeyConnect := func(sign func(nonce string) string) func(string) string {
		return func(nonce string) string {
			return "CONNECT {\"verbose\":false,\"nkey\":\"" + pub + "\",\"sig\":\"" + sign(nonce) + "\"}\r\nPING\r\n"
		}
	}
	conf := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(conf, []byte(`authorization {
  timeout: 1
  users: [
    {user: u1, password: p1}
    {user: u2, password: p2}
    {nkey: `+pub+`}
  ]
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cairn := startServer(t, server.Options{Auth: auth.Config{Timeout: time.Second, Users: []auth.User{
		{Name: "u1", Password: "p1"}, {Name: "u2", Password: "p2"}, {Nkey: pub},
	}}})
	peer := testserver.StartPeer(t, "-c", conf)
	diffAuth(t, cairn, peer.URL, append([]authScenario{
		{name: "user good", send: connectLine(`,"user":"u2","pass":"p2"`)},
		{name: "user wrong password", send: connectLine(`,"user":"u1","pass":"p2"`)},
		{name: "nkey good", send: nkeyConnect(func(n string) string { return sig(kp, n, base64.RawURLEncoding) })},
		{name: "nkey good, standard base64", send: nkeyConnect(func(n string) string { return sig(kp, n, base64.StdEncoding) })},
		{name: "nkey no sig", send: connectLine(`,"nkey":"` + pub + `"`)},
		{name: "nkey garbage sig", send: connectLine(`,"nkey":"` + pub + `","sig":"AAAA"`)},
		{name: "nkey other key's sig", send: nkeyConnect(func(n string) string { return sig(other, n, base64.RawURLEncoding) })},
		{name: "nkey wrong nonce", send: nkeyConnect(func(string) string { return sig(kp, "AAAAAAAAAAAAAAA", base64.RawURLEncoding) })},
		{name: "auth timeout", send: fixed("")},
		{name: "second CONNECT, no credentials", send: fixed("CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\nCONNECT {\"verbose\":false}\r\nPING\r\n")},
		{
			name:    "second CONNECT as another user",
			send:    fixed("CONNECT {\"verbose\":false,\"user\":\"u1\",\"pass\":\"p1\"}\r\nPING\r\nCONNECT {\"verbose\":false,\"user\":\"u2\",\"pass\":\"p2\"}\r\nPING\r\n"),
			differs: "nats-server lets a connection become another user; Cairn keeps the first identity",
			cairn:   "PONG\r\n-ERR 'Authorization Violation'\r\n<EOF>",
			peer:    "PONG\r\nPONG\r\n<open>",
		},
	}, commonScenarios...))
}

func TestAuthDifferentialNoAuthUser(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(conf, []byte("authorization {\n  users: [\n    {user: u1, password: p1}\n    {user: u2, password: p2}\n  ]\n}\nno_auth_user: u1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cairn := startServer(t, server.Options{Auth: auth.Config{NoAuthUser: "u1", Users: []auth.User{
		{Name: "u1", Password: "p1"}, {Name: "u2", Password: "p2"},
	}}})
	peer := testserver.StartPeer(t, "-c", conf)
	diffAuth(t, cairn, peer.URL, []authScenario{
		{name: "PING first", send: fixed("PING\r\n")},
		{name: "SUB first", send: fixed("SUB > 1\r\nPING\r\n")},
		{name: "no credentials", send: connectLine("")},
		{name: "other user", send: connectLine(`,"user":"u2","pass":"p2"`)},
		{name: "wrong password", send: connectLine(`,"user":"u2","pass":"p1"`)},
		{name: "password only", send: connectLine(`,"pass":"p1"`)},
	})
}
