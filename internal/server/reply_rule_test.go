package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// replyRuleConf is the users of the reply rule tests, for cairn and
// nats-server alike: admin may do anything; reader may only read bucket
// cfg (direct get and stream info) and receive on its inboxes; writer
// may also write cfg and publish to answers.>; filtered receives on
// _INBOX.> except _INBOX.secret.>; responder answers requests on svc.>
// with allow_responses.
const replyRuleConf = `
authorization {
  users: [
    { user: admin, password: admin }
    { user: reader, password: reader
      permissions {
        publish: ["$JS.API.DIRECT.GET.KV_cfg.>", "$JS.API.STREAM.INFO.KV_cfg"]
        subscribe: ["_INBOX.>"]
      }
    }
    { user: watcher, password: watcher
      permissions {
        publish: ["$JS.API.DIRECT.GET.KV_cfg.>"]
        subscribe: ["_INBOX.>", "$KV.cfg.>"]
      }
    }
    { user: consumer, password: consumer
      permissions {
        publish: ["$JS.API.STREAM.INFO.KV_cfg", "$JS.API.DIRECT.GET.KV_cfg.>", "$JS.API.CONSUMER.CREATE.KV_cfg.>",
                  "$JS.API.CONSUMER.DELETE.KV_cfg.>", "$JS.FC.KV_cfg.>", "mine.>"]
        subscribe: ["_INBOX.>", "mine.>"]
      }
    }
    { user: writer, password: writer
      permissions {
        publish: ["$JS.API.DIRECT.GET.KV_cfg.>", "$JS.API.STREAM.INFO.KV_cfg", "$KV.cfg.>", "answers.>"]
        subscribe: ["_INBOX.>"]
      }
    }
    { user: filtered, password: filtered
      permissions {
        publish: ["$JS.API.DIRECT.GET.KV_cfg.>"]
        subscribe { allow: "_INBOX.>", deny: "_INBOX.secret.>" }
      }
    }
    { user: responder, password: responder
      permissions {
        publish: ["$JS.API.DIRECT.GET.KV_cfg.>"]
        subscribe: ["svc.>", "_INBOX.>"]
        allow_responses: true
      }
    }
  ]
}
`

// directGetK is the direct get of key k of bucket cfg, without the
// reply subject.
const directGetK = "$JS.API.DIRECT.GET.KV_cfg.$KV.cfg.k"

// writeReplyRuleConf writes replyRuleConf to a temporary file.
func writeReplyRuleConf(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "reply_rule.conf")
	if err := os.WriteFile(file, []byte(replyRuleConf), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// startReplyRuleDaemon runs a cairn daemon (with JetStream) with the
// options conf gives, as cairn-server -c does.
func startReplyRuleDaemon(t *testing.T, conf string) string {
	t.Helper()
	f, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	f.Apply(&dc)
	dc.StoreDir = t.TempDir()
	dc.Server.Host, dc.Server.Port = "127.0.0.1", -1
	dc.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := daemon.Start(dc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d.ClientURL()
}

// rrConn is a raw client of the reply rule tests.
type rrConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// rrDial connects raw to url as user (password = user name), without
// headers, and returns once the CONNECT is answered.
func rrDial(t *testing.T, url, user string) *rrConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rrConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	if l := rc.lines("\r\n"); !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("first line %q", l)
	}
	rc.send(`CONNECT {"verbose":false,"pedantic":false,"headers":false,"user":"` + user + `","pass":"` + user + `"}` + "\r\nPING\r\n")
	if got := rc.lines("PONG\r\n"); got != "PONG\r\n" {
		t.Fatalf("CONNECT as %s: %q", user, got)
	}
	return rc
}

func (rc *rrConn) send(s string) {
	rc.t.Helper()
	if _, err := rc.conn.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

// lines reads lines until one ends with last, and returns them all.
func (rc *rrConn) lines(last string) string {
	rc.t.Helper()
	rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		l, err := rc.r.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			rc.t.Fatalf("read: %v (so far %q)", err, b.String())
		}
		if strings.HasSuffix(l, last) {
			return b.String()
		}
	}
}

// exchange sends ops and a PING and returns what came back up to the
// PONG.
func (rc *rrConn) exchange(ops string) string {
	rc.t.Helper()
	rc.send(ops + "PING\r\n")
	return rc.lines("PONG\r\n")
}

// rrNats connects with nats.go as user; async errors go to errs when
// not nil.
func rrNats(t *testing.T, url, user string, errs chan<- error) *nats.Conn {
	t.Helper()
	opts := []nats.Option{nats.UserInfo(user, user), nats.NoReconnect(), nats.Timeout(5 * time.Second)}
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func rrCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rrBucket creates bucket cfg as admin with k=v1 and returns it and
// its stream.
func rrBucket(t *testing.T, url string) (jetstream.KeyValue, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(rrNats(t, url, "admin", nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := rrCtx(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "k", "v1"); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "KV_cfg")
	if err != nil {
		t.Fatal(err)
	}
	return kv, st
}

func rrMsgs(t *testing.T, st jetstream.Stream) uint64 {
	t.Helper()
	info, err := st.Info(rrCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// rrHas reports whether the bucket has key.
func rrHas(t *testing.T, kv jetstream.KeyValue, key string) bool {
	t.Helper()
	_, err := kv.Get(rrCtx(t), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return true
}

// rrWaitKey polls until the bucket has key.
func rrWaitKey(t *testing.T, kv jetstream.KeyValue, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !rrHas(t, kv, key) {
		if time.Now().After(deadline) {
			t.Fatalf("key %s never stored", key)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplyRuleInProcessServices runs the exploit, and the
// requests that must keep working, against cairn and nats-server v2.15.2
// started with the same users: reader, allowed only to read bucket
// cfg, sends PUB $JS.API.DIRECT.GET.KV_cfg.$KV.cfg.k $KV.cfg.evil.
// nats-server answers it, on the reply subject, into the bucket (key
// evil is stored); cairn refuses it with a publish violation for the
// reply subject and stores nothing, and still delivers the request to a
// client subscribed to it.
func TestReplyRuleInProcessServices(t *testing.T) {
	conf := writeReplyRuleConf(t)
	t.Run("cairn", func(t *testing.T) { checkReplyRule(t, startReplyRuleDaemon(t, conf), true) })
	t.Run("nats-server", func(t *testing.T) { checkReplyRule(t, testserver.StartPeer(t, "-c", conf).URL, false) })
}

func checkReplyRule(t *testing.T, url string, cairn bool) {
	kv, st := rrBucket(t, url)
	admin := rrNats(t, url, "admin", nil)
	watch, err := admin.SubscribeSync("$JS.API.DIRECT.GET.KV_cfg.>")
	if err != nil {
		t.Fatal(err)
	}
	answers, err := admin.SubscribeSync("answers.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Flush(); err != nil {
		t.Fatal(err)
	}
	before := rrMsgs(t, st)

	// (a) The exploit.
	got := rrDial(t, url, "reader").exchange("PUB " + directGetK + " $KV.cfg.evil 0\r\n\r\n")
	want := "PONG\r\n"
	if cairn {
		want = "-ERR 'Permissions Violation for Publish to \"$KV.cfg.evil\"'\r\n" + want
	}
	if got != want {
		t.Errorf("reader's exploit answered %q, want %q", got, want)
	}
	// (e) A client subscribed to the request subject still gets it.
	if m, err := watch.NextMsg(5 * time.Second); err != nil || m.Reply != "$KV.cfg.evil" {
		t.Errorf("admin's subscription to the request subject: %v, %v; want the request with reply $KV.cfg.evil", m, err)
	}
	// (a') A user allowed to subscribe to the bucket's subjects, and
	// subscribed to them, is not answered there either: a stream's
	// subjects are never its inbox.
	got = rrDial(t, url, "watcher").exchange("SUB $KV.cfg.> 1\r\nPUB " + directGetK + " $KV.cfg.evil3 0\r\n\r\n")
	if cairn {
		// The answer of an allowed request reaches its subscription;
		// this one is refused before any answer.
		if want := "-ERR 'Permissions Violation for Publish to \"$KV.cfg.evil3\"'\r\nPONG\r\n"; got != want {
			t.Errorf("watcher's request answered %q, want %q", got, want)
		}
	}
	if _, err := watch.NextMsg(5 * time.Second); err != nil {
		t.Errorf("admin's subscription to the request subject: %v", err)
	}
	// (d) A user without permissions is unaffected: its own request
	// with the same kind of reply is answered into the bucket. Once
	// that answer is stored, the exploit's would have been too (it was
	// routed before reader's PONG).
	if err := admin.PublishMsg(&nats.Msg{Subject: directGetK, Reply: "$KV.cfg.control"}); err != nil {
		t.Fatal(err)
	}
	rrWaitKey(t, kv, "control")
	if cairn {
		if rrHas(t, kv, "evil") {
			t.Error("cairn stored the answer to reader's exploit as key evil")
		}
		if rrHas(t, kv, "evil3") {
			t.Error("cairn stored the answer to watcher's request as key evil3")
		}
		if n := rrMsgs(t, st); n != before+1 {
			t.Errorf("stream has %d messages, want %d (only control added)", n, before+1)
		}
	} else {
		// nats-server 2.15.2 misses the rule: the read-only user wrote
		// key evil (docs/SECURITY.md, "Reply subjects answered
		// in-process").
		rrWaitKey(t, kv, "evil")
		rrWaitKey(t, kv, "evil3")
	}

	// (b) reader's own reads through nats.go: replies on its inbox.
	errs := make(chan error, 4)
	js, err := jetstream.New(rrNats(t, url, "reader", errs))
	if err != nil {
		t.Fatal(err)
	}
	rkv, err := js.KeyValue(rrCtx(t), "cfg")
	if err != nil {
		t.Fatalf("reader opens cfg: %v", err)
	}
	if e, err := rkv.Get(rrCtx(t), "k"); err != nil || string(e.Value()) != "v1" {
		t.Errorf("reader's kv.Get(k): %v, %v", e, err)
	}
	select {
	case err := <-errs:
		t.Errorf("reader got an async error: %v", err)
	default:
	}

	// (c) A reply subject the user may publish to is answered: writer
	// may write cfg, and publish to answers.>.
	w := rrDial(t, url, "writer")
	if got := w.exchange("PUB " + directGetK + " $KV.cfg.evil2 0\r\n\r\nPUB " + directGetK + " answers.x 0\r\n\r\n"); got != "PONG\r\n" {
		t.Errorf("writer's requests answered %q", got)
	}
	rrWaitKey(t, kv, "evil2")
	if m, err := answers.NextMsg(5 * time.Second); err != nil || m.Subject != "answers.x" || string(m.Data) != "v1" {
		t.Errorf("answer on answers.x: %v, %v", m, err)
	}
}

// TestReplyRuleSubscriptions: on cairn, a reply subject counts as the
// requester's inbox while a non-queue subscription of the same
// connection receives it: literal, with a final '*' or '>', or with
// wildcards elsewhere; not after UNSUB (or an auto-unsubscribe's
// last message), not through a queue subscription, not where a
// subscribe deny entry filters it, and not because allow_responses
// opened it.
func TestReplyRuleSubscriptions(t *testing.T) {
	url := startReplyRuleDaemon(t, writeReplyRuleConf(t))
	rrBucket(t, url)
	const answer = " 2\r\nv1\r\n"
	req := func(reply string) string { return "PUB " + directGetK + " " + reply + " 0\r\n\r\n" }
	denied := func(reply string) string {
		return "-ERR 'Permissions Violation for Publish to \"" + reply + "\"'\r\n"
	}
	steps := []struct{ name, send, want string }{
		{"no subscription", req("_INBOX.a.1"), denied("_INBOX.a.1")},
		{"final star", "SUB _INBOX.a.* 1\r\n" + req("_INBOX.a.2"), "MSG _INBOX.a.2 1" + answer},
		{"star is one token", req("_INBOX.a.2.x"), denied("_INBOX.a.2.x")},
		{"after unsub", "UNSUB 1\r\n" + req("_INBOX.a.3"), denied("_INBOX.a.3")},
		{"literal", "SUB _INBOX.b.x 2\r\n" + req("_INBOX.b.x"), "MSG _INBOX.b.x 2" + answer},
		{"literal is not a prefix", req("_INBOX.b.x.y"), denied("_INBOX.b.x.y")},
		{"queue subscription", "SUB _INBOX.c.* q 3\r\n" + req("_INBOX.c.1"), denied("_INBOX.c.1")},
		{"wildcard before the last token", "SUB _INBOX.*.e 4\r\n" + req("_INBOX.z.e"), "MSG _INBOX.z.e 4" + answer},
		{"not matching it", req("_INBOX.z.f"), denied("_INBOX.z.f")},
		{"final full wildcard", "SUB _INBOX.g.> 5\r\n" + req("_INBOX.g.h.i"), "MSG _INBOX.g.h.i 5" + answer},
		{"auto-unsubscribe", "SUB _INBOX.u.> 8\r\nUNSUB 8 1\r\n" + req("_INBOX.u.1") + req("_INBOX.u.2"), "MSG _INBOX.u.1 8" + answer + denied("_INBOX.u.2")},
		{"two subscriptions on one subject", "SUB _INBOX.t.* 6\r\nSUB _INBOX.t.* 7\r\nUNSUB 6\r\n" + req("_INBOX.t.1"), "MSG _INBOX.t.1 7" + answer},
	}
	rc := rrDial(t, url, "reader")
	for _, st := range steps {
		if got := rc.exchange(st.send); got != st.want+"PONG\r\n" {
			t.Errorf("%s: got %q, want %q", st.name, got, st.want+"PONG\r\n")
		}
	}

	// A subscription filtered by a deny entry does not receive the
	// reply, so it is no inbox for it.
	f := rrDial(t, url, "filtered")
	if got := f.exchange("SUB _INBOX.> 1\r\n" + req("_INBOX.secret.1") + req("_INBOX.open.1")); got != denied("_INBOX.secret.1")+"MSG _INBOX.open.1 1"+answer+"PONG\r\n" {
		t.Errorf("filtered: got %q", got)
	}

	// allow_responses opens rep.1 to the responder, for its own
	// publishes only: a request answered on rep.1 is refused, and the
	// opening is neither used up nor hidden by the refusal.
	admin := rrNats(t, url, "admin", nil)
	rep, err := admin.SubscribeSync("rep.1")
	if err != nil {
		t.Fatal(err)
	}
	r := rrDial(t, url, "responder")
	r.exchange("SUB svc.a 1\r\n")
	if err := admin.PublishRequest("svc.a", "rep.1", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := r.lines("hi\r\n"); got != "MSG svc.a 1 rep.1 2\r\nhi\r\n" {
		t.Fatalf("responder got %q", got)
	}
	if got := r.exchange(req("rep.1") + "PUB rep.1 2\r\nok\r\n"); got != denied("rep.1")+"PONG\r\n" {
		t.Errorf("responder: got %q", got)
	}
	if m, err := rep.NextMsg(5 * time.Second); err != nil || string(m.Data) != "ok" {
		t.Errorf("first message on rep.1: %v, %v; want the responder's own ok", m, err)
	}
}

// TestReplyRuleDeliverSubject: a push consumer publishes to its deliver
// subject on its creator's behalf, so on cairn the reply rule applies
// to it: a user may create one delivering to a subject it may publish
// to or to its own inbox, not elsewhere (nats-server 2.15.2 does not
// check; there the consumer below would deliver bucket cfg's values to
// whoever subscribes to orders.new).
func TestReplyRuleDeliverSubject(t *testing.T) {
	url := startReplyRuleDaemon(t, writeReplyRuleConf(t))
	kv, _ := rrBucket(t, url)
	nc := rrNats(t, url, "consumer", nil)
	inbox, err := nc.SubscribeSync("_INBOX.mine.*")
	if err != nil {
		t.Fatal(err)
	}
	create := func(name, deliver string) string {
		t.Helper()
		body := `{"stream_name":"KV_cfg","config":{"name":"` + name + `","deliver_subject":"` + deliver + `","ack_policy":"none","deliver_policy":"last_per_subject","filter_subject":"$KV.cfg.>"}}`
		m, err := nc.Request("$JS.API.CONSUMER.CREATE.KV_cfg."+name, []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		var resp struct {
			Error *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.Error != nil {
			return fmt.Sprintf("%d %s", resp.Error.Code, resp.Error.Description)
		}
		return "ok"
	}
	// (A deliver subject among the stream's own subjects is refused as
	// a cycle, before the rule: 10081.)
	for _, deliver := range []string{"orders.new", "$KV.other.evil", "_INBOX.other.x"} {
		got := create("c-"+strings.NewReplacer(".", "-", "$", "").Replace(deliver), deliver)
		if !strings.HasPrefix(got, "403 Permissions Violation for Publish to \""+deliver+"\"") {
			t.Errorf("deliver subject %s: %s, want refused", deliver, got)
		}
	}
	if got := create("ok-inbox", "_INBOX.mine.d"); got != "ok" {
		t.Fatalf("deliver subject on its own inbox: %s", got)
	}
	if m, err := inbox.NextMsg(5 * time.Second); err != nil || string(m.Data) != "v1" {
		t.Fatalf("delivery to its inbox: %v, %v", m, err)
	}
	if got := create("ok-pub", "mine.deliveries"); got != "ok" {
		t.Fatalf("deliver subject it may publish to: %s", got)
	}
	if rrHas(t, kv, "evil") {
		t.Error("a refused consumer delivered into the bucket")
	}
	// nats.go's watcher (an ordered push consumer on an inbox it
	// subscribes to) still works.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ckv, err := js.KeyValue(rrCtx(t), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	w, err := ckv.WatchAll(rrCtx(t))
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	if e := <-w.Updates(); e == nil || e.Key() != "k" {
		t.Fatalf("watch: first update %v", e)
	}
}
