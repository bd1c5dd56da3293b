package hostile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// permsTarget runs a daemon with user "admin" (every permission) and
// user "u" limited by pub and sub, and a KV bucket cfg holding
// public=1, secret=s.
func permsTarget(t *testing.T, pub, sub *auth.Rules) (*target, jetstream.KeyValue) {
	t.Helper()
	p, err := auth.NewPermissions(pub, sub)
	if err != nil {
		t.Fatal(err)
	}
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "admin", Password: "a"},
		{Name: "u", Password: "p", Permissions: p},
	}}}})
	js, err := jetstream.New(connect(t, tg.URL, nats.UserInfo("admin", "a")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"public": "1", "secret": "s"} {
		if _, err := kv.PutString(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	return tg, kv
}

// asUser connects raw as u and returns the connection after its PONG.
func asUser(t *testing.T, tg *target) *authConn {
	t.Helper()
	ac := dialAuth(t, tg.Addr)
	ac.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"user\":\"u\",\"pass\":\"p\"}\r\nPING\r\n")
	if got := ac.until("PONG\r\n"); got != "PONG\r\n" {
		t.Fatalf("CONNECT: %q", got)
	}
	return ac
}

// until reads lines until one equals last and returns them all.
func (ac *authConn) until(last string) string {
	ac.t.Helper()
	ac.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := ac.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			ac.t.Fatalf("read: %v (so far %q)", err, b.String())
		}
		if l == last {
			return b.String()
		}
	}
}

func getString(t *testing.T, kv jetstream.KeyValue, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Value())
}

// TestPermissionsWildcardPublish: a user allowed to write only
// $KV.cfg.public cannot reach another key by putting wildcards in the
// PUB subject, and each attempt is answered with the violation while
// the connection stays open.
func TestPermissionsWildcardPublish(t *testing.T) {
	tg, kv := permsTarget(t, &auth.Rules{Allow: []string{"$KV.cfg.public"}}, nil)
	ac := asUser(t, tg)
	var want strings.Builder
	for _, subj := range []string{"$KV.cfg.*", "$KV.cfg.>", "$KV.*.secret", "$KV.>", ">", "*", "$KV.cfg.secret", "$KV.cfg.public.>"} {
		ac.send("PUB " + subj + " 4\r\nevil\r\n")
		want.WriteString("-ERR 'Permissions Violation for Publish to \"" + subj + "\"'\r\n")
	}
	// A reply subject is no way around it either: replies to a
	// reserved subject are refused for everyone.
	ac.send("PUB $KV.cfg.public _R_.x 3\r\nnew\r\nPING\r\n")
	want.WriteString("-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\nPONG\r\n")
	if got := ac.until("PONG\r\n"); got != want.String() {
		t.Errorf("got\n%s\nwant\n%s", got, want.String())
	}
	for k, v := range map[string]string{"secret": "s", "public": "1"} {
		if got := getString(t, kv, k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if keys, err := kv.Keys(ctx); err != nil || strings.Join(keys, ",") != "public,secret" && strings.Join(keys, ",") != "secret,public" {
		t.Errorf("keys %v, %v; want public and secret only", keys, err)
	}
	// The allowed subject still writes.
	ac.send("PUB $KV.cfg.public 3\r\nnew\r\nPING\r\n")
	if got := ac.until("PONG\r\n"); got != "PONG\r\n" {
		t.Errorf("allowed publish: %q", got)
	}
	eventually(t, 5*time.Second, "public = new", func() bool { return getString(t, kv, "public") == "new" })
}

// TestPermissionsDeniedViaWildcardSubscription: a user denied
// $KV.cfg.secret subscribes to wider subjects (accepted, as by
// nats-server) and never receives a write of the denied key, in a plain
// or a queue subscription; the literal denied subject is refused.
func TestPermissionsDeniedViaWildcardSubscription(t *testing.T) {
	tg, kv := permsTarget(t, nil, &auth.Rules{Deny: []string{"$KV.cfg.secret"}})
	ac := asUser(t, tg)
	ac.send("SUB $KV.cfg.secret 9\r\nSUB $KV.cfg.secret g 10\r\nSUB $KV.cfg.* 1\r\nSUB $KV.> 2\r\nSUB > 3\r\nSUB *.cfg.* g 4\r\nPING\r\n")
	want := "-ERR 'Permissions Violation for Subscription to \"$KV.cfg.secret\"'\r\n" +
		"-ERR 'Permissions Violation for Subscription to \"$KV.cfg.secret\" using queue \"g\"'\r\nPONG\r\n"
	if got := ac.until("PONG\r\n"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kv.PutString(ctx, "secret", "leak"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "public", "2"); err != nil {
		t.Fatal(err)
	}
	// The marker is the last message the user sees: everything before
	// it was delivered or filtered.
	nc := connect(t, tg.URL, nats.UserInfo("admin", "a"))
	if err := nc.Publish("zz.end", nil); err != nil {
		t.Fatal(err)
	}
	got := ac.until("\r\n") // MSG lines and payloads until the marker
	for !strings.Contains(got, "zz.end") {
		got += ac.until("\r\n")
	}
	if strings.Contains(got, "secret") || strings.Contains(got, "leak") {
		t.Errorf("denied key delivered:\n%s", got)
	}
	for _, sid := range []string{" 1 ", " 2 ", " 3 ", " 4 "} {
		if !strings.Contains(got, "MSG $KV.cfg.public"+sid) {
			t.Errorf("public write not delivered to sid%s:\n%s", sid, got)
		}
	}
}

// TestPermissionsQueueGroupFallsThrough: a message a member of a queue
// group may not receive goes to another member, never to it.
func TestPermissionsQueueGroupFallsThrough(t *testing.T) {
	tg, _ := permsTarget(t, nil, &auth.Rules{Deny: []string{"jobs.secret"}})
	ac := asUser(t, tg)
	ac.send("SUB jobs.* workers 1\r\nPING\r\n")
	ac.until("PONG\r\n")
	admin := connect(t, tg.URL, nats.UserInfo("admin", "a"))
	other, err := admin.QueueSubscribeSync("jobs.*", "workers")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := admin.Publish("jobs.secret", []byte("s")); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Publish("zz.end", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if _, err := other.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("message %d not delivered to the other member: %v", i, err)
		}
	}
	ac.send("PING\r\n")
	if got := ac.until("PONG\r\n"); got != "PONG\r\n" {
		t.Errorf("the denied member received %q", got)
	}
}
