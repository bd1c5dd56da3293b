package hostile

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A CONNECT may spell its keys in any case (encoding/json folds them,
// in nats-server too): "PASS", "Auth_Token", "SIG", even "paſſ" with the
// long s all authenticate. The trace must redact them all the same.
func TestSecReviewTraceRedactsFoldedSecretKeys(t *testing.T) {
	logs := &syncBuf{}
	tg := startWith(t, daemon.Config{Server: server.Options{
		Auth:   auth.Config{Users: []auth.User{{Name: "u", Password: "s3cr3t-one"}}},
		Logger: server.NewLogger(logs, false, true),
	}})
	for _, key := range []string{"PASS", "Pass", "pa\u017f\u017f"} {
		ac := dialAuth(t, tg.Addr)
		ac.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"" + key + "\":\"s3cr3t-one\"}\r\nPING\r\n")
		if got := ac.until("PONG\r\n"); got != "PONG\r\n" {
			t.Fatalf("%s: %q", key, got)
		}
	}
	if out := logs.String(); strings.Contains(out, "s3cr3t-one") {
		t.Fatalf("the password is in the trace:\n%s", out)
	}
}

// With no_auth_user, a client may send PUB first and is that user: its
// permissions hold for operations pipelined before any CONNECT.
func TestSecReviewNoAuthUserPipelinedPub(t *testing.T) {
	p, err := auth.NewPermissions(&auth.Rules{Deny: []string{"$KV.cfg.>"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{
		Users:      []auth.User{{Name: "admin", Password: "a"}, {Name: "u", Password: "p", Permissions: p}},
		NoAuthUser: "u",
	}}})
	_, js := newJSAs(t, tg.URL, nats.UserInfo("admin", "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "secret", "s"); err != nil {
		t.Fatal(err)
	}
	ac := dialAuth(t, tg.Addr)
	ac.send("PUB $KV.cfg.secret 4\r\nevil\r\nSUB $KV.cfg.> 1\r\nPUB $KV.cfg.* 4\r\nevil\r\nPING\r\n")
	got := ac.until("PONG\r\n")
	if strings.Count(got, "Permissions Violation") != 2 || strings.Contains(got, "MSG") {
		t.Fatalf("got %q", got)
	}
	if v := getString(t, kv, "secret"); v != "s" {
		t.Fatalf("secret = %q", v)
	}
}

func newJSAs(t *testing.T, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, url, opts...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// A no-responders status goes to the requester alone, as nats-server
// sends it (subForReply): routed like a publish, it let a user denied
// $KV.cfg.> write an empty value over any key (the stream stored the
// 503 on the reply subject) and put a 503 into any other client's
// subscription.
func TestSecReviewNoRespondersOnlyToRequester(t *testing.T) {
	tg, kv := permsTarget(t, &auth.Rules{Deny: []string{"$KV.cfg.>", "watched.>"}}, nil)
	admin := connect(t, tg.URL, nats.UserInfo("admin", "a"))
	watched, err := admin.SubscribeSync("watched.x")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	ac := dialAuth(t, tg.Addr)
	ac.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"user\":\"u\",\"pass\":\"p\"}\r\n" +
		"SUB _INBOX.mine 1\r\n" +
		"PUB nobody.listens $KV.cfg.secret 0\r\n\r\n" +
		"PUB nobody.listens watched.x 0\r\n\r\n" +
		"PUB nobody.listens _INBOX.mine 0\r\n\r\nPING\r\n")
	// Its own request still gets the status.
	if got := ac.until("PONG\r\n"); !strings.HasPrefix(got, "HMSG _INBOX.mine 1 ") || !strings.Contains(got, "NATS/1.0 503") {
		t.Fatalf("requester got %q", got)
	}
	if v := getString(t, kv, "secret"); v != "s" {
		t.Fatalf("secret = %q after a no-responders status to $KV.cfg.secret", v)
	}
	if m, err := watched.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("another client got %q %q", m.Subject, m.Header)
	}
}

// The delivery cache (128 subjects, emptied when full) under concurrent
// publishers churning through many subjects never lets a denied subject
// through a wildcard subscription.
func TestSecReviewDeliveryCacheChurn(t *testing.T) {
	tg, _ := permsTarget(t, nil, &auth.Rules{Deny: []string{"foo.secret"}})
	u := connect(t, tg.URL, nats.UserInfo("u", "p"))
	got := make(chan string, 1)
	if _, err := u.Subscribe("foo.*", func(m *nats.Msg) {
		if m.Subject == "foo.secret" {
			select {
			case got <- m.Subject:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			nc, err := nats.Connect(tg.URL, nats.UserInfo("admin", "a"))
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			for i := 0; i < 2000; i++ {
				_ = nc.Publish("foo.s"+strconv.Itoa(g*2000+i), nil)
				_ = nc.Publish("foo.secret", nil)
			}
			_ = nc.Flush()
		}(g)
	}
	wg.Wait()
	if err := u.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		t.Fatalf("delivered %s", s)
	case <-time.After(200 * time.Millisecond):
	}
}
