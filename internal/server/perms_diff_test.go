package server_test

import (
	"path/filepath"
	"testing"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// startPermsConf starts a server with the options a config file gives,
// as cairn-server -c does (config.Load, then Apply).
func startPermsConf(t *testing.T, file string) *server.Server {
	t.Helper()
	f, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	f.Apply(&dc)
	return startServer(t, dc.Server)
}

// TestPermissionsDifferential runs publish and subscribe scenarios as
// the users of testdata/perms.conf against cairn and nats-server, both
// started with that file, and compares what each client gets back: the
// -ERR lines, the messages delivered and whether the connection stays
// open.
func TestPermissionsDifferential(t *testing.T) {
	conf := filepath.Join("testdata", "perms.conf")
	cairn := startPermsConf(t, conf)
	peer := testserver.StartPeer(t, "-c", conf)
	as := func(user, ops string) func(string) string {
		return fixed("CONNECT {\"verbose\":false,\"user\":\"" + user + "\",\"pass\":\"" + user + "\"}\r\n" + ops + "PING\r\n")
	}
	diffAuth(t, cairn, peer.URL, []authScenario{
		// Publish.
		{name: "a pub allowed", send: as("a", "SUB foo.a 1\r\nPUB foo.a 2\r\nhi\r\n")},
		{name: "a pub denied", send: as("a", "SUB foo.* 1\r\nPUB pub.denied 2\r\nhi\r\nPUB pub.deny.x.y 2\r\nhi\r\nPUB foo.b 2\r\nok\r\n")},
		{name: "a pub denied verbose", send: fixed("CONNECT {\"verbose\":true,\"user\":\"a\",\"pass\":\"a\"}\r\nPUB pub.denied 2\r\nhi\r\nPUB ok 2\r\nhi\r\nPING\r\n")},
		{name: "a hpub denied", send: as("a", "HPUB pub.denied 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")},
		{name: "a pub wildcard subject over deny", send: as("a", "PUB pub.deny.* 2\r\nhi\r\nPUB pub.deny.> 2\r\nhi\r\nPUB pub.* 2\r\nhi\r\nPUB pub.> 2\r\nhi\r\n")},
		{name: "b pub bare list", send: as("b", "SUB x.a 1\r\nPUB x.a 2\r\nhi\r\nPUB y 2\r\nhi\r\nPUB y.a 2\r\nhi\r\nPUB y.a.b 2\r\nhi\r\nPUB z 2\r\nhi\r\n")},
		{name: "b pub wildcard subjects", send: as("b", "PUB y.* 2\r\nhi\r\nPUB y.> 2\r\nhi\r\nPUB * 2\r\nhi\r\nPUB > 2\r\nhi\r\nPUB x.* 2\r\nhi\r\n")},
		{name: "d default permissions", send: as("d", "SUB > 1\r\nPUB secret 2\r\nhi\r\nPUB secret.x 2\r\nhi\r\nPUB public 2\r\nhi\r\n")},
		{name: "d sub denied by default", send: as("d", "SUB secret.x 1\r\nSUB secret.> 2\r\nSUB secret 3\r\n")},
		// Reserved reply subjects, for any user.
		{name: "d reserved replies", send: as("d", "SUB r 1\r\nPUB r _R_.x 2\r\nhi\r\nPUB r $JS.ACK.s.c.1.1.1.1.0 2\r\nhi\r\nPUB r _GR_.x 2\r\nhi\r\nPUB r $GR.x 2\r\nhi\r\nPUB r _INBOX.x 2\r\nhi\r\n")},
		{name: "d reserved subjects", send: as("d", "PUB _GR_.x 2\r\nhi\r\nPUB $GR.x 2\r\nhi\r\nPUB _R_.x 2\r\nhi\r\n")},
		// allow_responses: the reply subject of each message delivered
		// may be published to, max times, when the requester may be
		// answered there (its inbox, or a subject it may publish to).
		{name: "r allow_responses", send: as("r", "SUB svc.a 1\r\nSUB rep.* 2\r\nPUB svc.a rep.1 2\r\nhi\r\nPUB rep.1 2\r\nok\r\nPUB rep.1 2\r\nno\r\nPUB rep.2 2\r\nno\r\nPUB other 2\r\nno\r\n")},
		{name: "r allow_responses no reply tracked for allowed subject", send: as("r", "SUB svc.a 1\r\nPUB svc.a svc.b 2\r\nhi\r\nPUB svc.b 2\r\nok\r\nPUB svc.b 2\r\nok\r\n")},
		{name: "r2 allow_responses max 2", send: as("r2", "SUB svc 1\r\nSUB rep 2\r\nPUB svc rep 2\r\nhi\r\nPUB svc rep 2\r\nhi\r\nPUB rep 2\r\nok\r\nPUB rep 2\r\nok\r\nPUB rep 2\r\nno\r\n")},
		{
			name:    "r allow_responses for a reply the requester may not be answered on",
			send:    as("r", "SUB svc.a 1\r\nPUB svc.a rep.1 2\r\nhi\r\nPUB rep.1 2\r\nok\r\nPUB rep.2 2\r\nno\r\n"),
			differs: "the reply subject of a request opens a publish for the responder on the requester's behalf; Cairn opens it only where the requester may be answered (the reply rule: a subject it may publish to, or its inbox) and tells the requester, nats-server opens any: here r writes rep.1, which it may not publish to, by asking itself",
			cairn:   "-ERR 'Permissions Violation for Publish to \"rep.1\"'\r\nMSG svc.a 1 rep.1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"rep.1\"'\r\n-ERR 'Permissions Violation for Publish to \"rep.2\"'\r\nPONG\r\n<open>",
			peer:    "MSG svc.a 1 rep.1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"rep.2\"'\r\nPONG\r\n<open>",
		},
		{
			name:    "r2 allow_responses past a deny entry",
			send:    as("r2", "SUB svc 1\r\nPUB svc nope 2\r\nhi\r\nPUB nope 2\r\nok\r\n"),
			differs: "as above: nats-server lets r2 publish to nope, which its deny entry names, by sending itself a request with reply nope",
			cairn:   "-ERR 'Permissions Violation for Publish to \"nope\"'\r\nMSG svc 1 nope 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"nope\"'\r\nPONG\r\n<open>",
			peer:    "MSG svc 1 nope 2\r\nhi\r\nPONG\r\n<open>",
		},
		// Subscribe.
		{name: "a sub allowed", send: as("a", "SUB foo.a 1\r\nSUB foo.* 2\r\nSUB bar.> 3\r\nSUB bar.x.y 4\r\nSUB _INBOX.abc 5\r\nSUB qq.x 6\r\n")},
		{name: "a sub refused", send: as("a", "SUB baz 1\r\nSUB foo.secret 2\r\nSUB bar.private.x 3\r\nSUB bar.private.> 4\r\nSUB > 5\r\nSUB foo 6\r\nSUB bar.private.* 7\r\n")},
		{name: "a queue subs", send: as("a", "SUB q.a workers 1\r\nSUB q.a others 2\r\nSUB q.a 3\r\nSUB foo.a grp 4\r\nSUB foo.secret grp 5\r\nSUB qq.x any 6\r\n")},
		{name: "a wildcard sub filters denied", send: as("a", "SUB foo.* 1\r\nSUB bar.> 2\r\nPUB foo.secret 2\r\nno\r\nPUB foo.ok 2\r\nhi\r\nPUB bar.private.x 2\r\nno\r\nPUB bar.private 2\r\nhi\r\nPUB bar.x.y 2\r\nhi\r\n")},
		{name: "a queue sub filters denied", send: as("a", "SUB foo.* g 1\r\nPUB foo.secret 2\r\nno\r\nPUB foo.ok 2\r\nhi\r\n")},
		{name: "a filtered messages do not count to max", send: as("a", "SUB foo.* 1\r\nUNSUB 1 1\r\nPUB foo.secret 2\r\nno\r\nPUB foo.ok 2\r\nhi\r\nPUB foo.ok 2\r\nno\r\n")},
		{name: "a refused sub then pub", send: as("a", "SUB baz 1\r\nPUB baz 2\r\nhi\r\n")},
		{name: "b sub bare list", send: as("b", "SUB x.a 1\r\nSUB x.* 2\r\nSUB x 3\r\nSUB y.a 4\r\n")},
		{
			name:    "a sub wider than allow",
			send:    as("a", "SUB foo.> 1\r\nPUB foo.x.y 2\r\nhi\r\n"),
			differs: "nats-server lets allow foo.* cover a subscription to foo.> (its sublist matches a '>' subscription token with a '*' pattern token) and then delivers foo.x.y, which no allow entry covers; Cairn requires the allow entry to cover every subject the subscription can match",
			cairn:   "-ERR 'Permissions Violation for Subscription to \"foo.>\"'\r\nPONG\r\n<open>",
			peer:    "MSG foo.x.y 1 2\r\nhi\r\nPONG\r\n<open>",
		},
		{
			name:    "b sub wider than bare list",
			send:    as("b", "SUB x.> 1\r\n"),
			differs: "as above: allow x.* does not cover x.> in Cairn",
			cairn:   "-ERR 'Permissions Violation for Subscription to \"x.>\"'\r\nPONG\r\n<open>",
			peer:    "PONG\r\n<open>",
		},
	})
}
