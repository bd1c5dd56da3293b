package server_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/server"
)

// permsServer runs a server with user "u" (password "p") limited by
// pub and sub, and user "free" with every permission.
func permsServer(t *testing.T, pub, sub *auth.Rules) *server.Server {
	t.Helper()
	p, err := auth.NewPermissions(pub, sub)
	if err != nil {
		t.Fatal(err)
	}
	return startServer(t, server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "u", Password: "p", Permissions: p},
		{Name: "free", Password: "p"},
	}}})
}

// TestPermissionsThroughNatsGo: nats.go's async error handler receives
// the violations as ErrPermissionViolation with nats-server's text, the
// connection stays open, denied messages are neither routed nor
// delivered, and PermissionErrOnSubscribe hands the error to the
// subscription nats.go matched from the text.
func TestPermissionsThroughNatsGo(t *testing.T) {
	s := permsServer(t, &auth.Rules{Allow: []string{"ok.>", "_INBOX.>"}, Deny: []string{"ok.secret"}},
		&auth.Rules{Allow: []string{"ok.>", "_INBOX.>"}, Deny: []string{"ok.secret"}})
	errs := make(chan error, 10)
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("u", "p"), nats.NoReconnect(), nats.PermissionErrOnSubscribe(true),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	free, err := nats.Connect(s.ClientURL(), nats.UserInfo("free", "p"), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer free.Close()
	watch, err := free.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := free.Flush(); err != nil {
		t.Fatal(err)
	}
	next := func(what string) error {
		t.Helper()
		select {
		case err := <-errs:
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no async error", what)
		}
		return nil
	}

	// A denied publish: the error, nothing routed.
	if err := nc.Publish("ok.secret", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("ok.fine", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Permissions Violation for Publish to "ok.secret"`, `Permissions Violation for Publish to "other"`} {
		if err := next("publish"); !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), want) {
			t.Errorf("async error %v, want ErrPermissionViolation with %q", err, want)
		}
	}
	if m, err := watch.NextMsg(5 * time.Second); err != nil || m.Subject != "ok.fine" {
		t.Fatalf("first routed message: %v, %v; want ok.fine (denied ones dropped)", m, err)
	}

	// A refused subscription: the error reaches the subscription.
	sub, err := nc.SubscribeSync("nope")
	if err != nil {
		t.Fatal(err)
	}
	if err := next("subscribe"); !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Permissions Violation for Subscription to "nope"`) {
		t.Errorf("async error %v", err)
	}
	if _, err := sub.NextMsg(time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("NextMsg on the refused subscription: %v, want ErrPermissionViolation", err)
	}
	qsub, err := nc.QueueSubscribeSync("ok.secret", "g")
	if err != nil {
		t.Fatal(err)
	}
	if err := next("queue subscribe"); !strings.HasSuffix(err.Error(), `Permissions Violation for Subscription to "ok.secret" using queue "g"`) {
		t.Errorf("async error %v", err)
	}
	if _, err := qsub.NextMsg(time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Errorf("NextMsg on the refused queue subscription: %v", err)
	}

	// A wildcard subscription over a deny entry is made, and the denied
	// subject filtered out; requests still work (the connection is open).
	wild, err := nc.SubscribeSync("ok.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("connection closed after violations: %v", err)
	}
	for _, subj := range []string{"ok.secret", "ok.a"} {
		if err := free.Publish(subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	if err := free.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := wild.NextMsg(5 * time.Second); err != nil || m.Subject != "ok.a" {
		t.Errorf("wildcard subscription got %v, %v; want ok.a only", m, err)
	}
	select {
	case err := <-errs:
		t.Errorf("unexpected async error %v", err)
	default:
	}
}

// TestPermissionsRaw checks the exact lines: the -ERR for each refusal,
// no +OK for a refused operation in verbose mode, and the connection
// left open.
func TestPermissionsRaw(t *testing.T) {
	s := permsServer(t, &auth.Rules{Allow: []string{"ok.>"}, Deny: []string{"ok.secret"}},
		&auth.Rules{Allow: []string{"ok.>", "work.* w"}, Deny: []string{"ok.secret"}})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"user\":\"u\",\"pass\":\"p\"}\r\n" +
		"PUB ok.secret 1\r\nx\r\n" +
		"PUB ok.a _R_.x 1\r\nx\r\n" +
		"SUB ok.secret 1\r\n" +
		"SUB work.a 2\r\n" +
		"SUB work.a v 3\r\n" +
		"SUB work.a w 4\r\n" +
		"SUB ok.* 5\r\n" +
		"PUB ok.secret 1\r\nx\r\n" +
		"PUB ok.b 1\r\ny\r\n" +
		"PING\r\n")
	want := "+OK\r\n" +
		"-ERR 'Permissions Violation for Publish to \"ok.secret\"'\r\n" +
		"-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n" +
		"-ERR 'Permissions Violation for Subscription to \"ok.secret\"'\r\n" +
		"-ERR 'Permissions Violation for Subscription to \"work.a\"'\r\n" +
		"-ERR 'Permissions Violation for Subscription to \"work.a\" using queue \"v\"'\r\n" +
		"+OK\r\n" +
		"+OK\r\n" +
		"-ERR 'Permissions Violation for Publish to \"ok.secret\"'\r\n" +
		"+OK\r\n" +
		"MSG ok.b 5 1\r\ny\r\n" +
		"PONG\r\n"
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "PONG\r\n") {
		got.WriteString(rc.line(5 * time.Second))
	}
	if got.String() != want {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want)
	}
}

// TestPermissionsCheckedOnEveryDelivery: once a wildcard subscription
// overlaps a deny entry every delivery to the connection is checked,
// beyond what the bounded cache holds.
func TestPermissionsCheckedOnEveryDelivery(t *testing.T) {
	s := permsServer(t, nil, &auth.Rules{Deny: []string{"a.secret"}})
	rc := dialRaw(t, s)
	// The literal subscription is made before the filter is on; the
	// wildcard one turns it on for the connection.
	rc.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB a.b 1\r\nSUB a.* 2\r\n")
	for i := 0; i < 300; i++ { // more subjects than the cache holds
		rc.send("PUB a.secret 0\r\n\r\nPUB a.x" + strconv.Itoa(i) + " 0\r\n\r\n")
	}
	rc.send("PUB a.b 0\r\n\r\nPING\r\n")
	n := 0
	for {
		l := rc.line(5 * time.Second)
		if l == "PONG\r\n" {
			break
		}
		if strings.Contains(l, "secret") {
			t.Fatalf("denied subject delivered: %q", l)
		}
		if strings.HasPrefix(l, "MSG ") {
			n++
		}
	}
	if n != 302 {
		t.Errorf("%d messages, want 302", n)
	}
}

// TestPermissionsAllowResponses: a responder limited by allow_responses
// may publish to the reply subject of each request it receives, once
// (the default), and to nothing else.
func TestPermissionsAllowResponses(t *testing.T) {
	p, err := auth.NewPermissionsWithResponses(&auth.Rules{Allow: []string{"svc.>"}}, nil, &auth.Responses{})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "r", Password: "p", Permissions: p},
		{Name: "free", Password: "p"},
	}}})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false,\"user\":\"r\",\"pass\":\"p\"}\r\nSUB svc 1\r\nPING\r\n")
	if l := rc.line(5 * time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("free", "p"), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	replies, err := nc.SubscribeSync("rep.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("svc", "rep.1", []byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if l := rc.line(5 * time.Second); l != "MSG svc 1 rep.1 1\r\n" {
		t.Fatalf("request: %q", l)
	}
	rc.line(5 * time.Second)
	rc.send("PUB rep.1 1\r\na\r\nPUB rep.1 1\r\nb\r\nPUB rep.2 1\r\nc\r\nPING\r\n")
	want := "-ERR 'Permissions Violation for Publish to \"rep.1\"'\r\n-ERR 'Permissions Violation for Publish to \"rep.2\"'\r\nPONG\r\n"
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "PONG\r\n") {
		got.WriteString(rc.line(5 * time.Second))
	}
	if got.String() != want {
		t.Errorf("got %q, want %q", got.String(), want)
	}
	if m, err := replies.NextMsg(5 * time.Second); err != nil || m.Subject != "rep.1" || string(m.Data) != "a" {
		t.Fatalf("reply: %v, %v", m, err)
	}
	if m, err := replies.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("a second reply went through: %q", m.Data)
	}
}
