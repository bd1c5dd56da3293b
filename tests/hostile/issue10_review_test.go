package hostile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// Attacks on issue 10's accounts, reply rule and permissions, from the
// review before the issue is closed.

// rvPerms compiles publish and subscribe allow lists.
func rvPerms(t *testing.T, pub, sub []string) *auth.Permissions {
	t.Helper()
	p, err := auth.NewPermissions(&auth.Rules{Allow: pub}, &auth.Rules{Allow: sub})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rvAsk sends a JetStream API request and returns the answer's error
// description, "" when it has none.
func rvAsk(t *testing.T, nc *nats.Conn, subj string, body any) string {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request(subj, b, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("%s: %v in %q", subj, err, m.Data)
	}
	if r.Error == nil {
		return ""
	}
	return r.Error.Description
}

// A stream's republish destination is a publish the stream makes on its
// configurer's behalf after every write, as a push consumer's deliver
// subject is. The admin of bucket cfg (allowed to create and update
// KV_cfg and to write $KV.cfg.>, nothing else) must not be able to
// republish cfg's writes into subjects it may not publish to: here the
// stream ORDERS, which only the operator writes.
func TestReviewRepublishOutsidePermissions(t *testing.T) {
	cfgAdmin := rvPerms(t, []string{"$JS.API.INFO", "$JS.API.STREAM.CREATE.KV_cfg", "$JS.API.STREAM.UPDATE.KV_cfg", "$JS.API.STREAM.INFO.KV_cfg", "$KV.cfg.>", "copy.cfg.>"},
		[]string{"_INBOX.>", "$KV.cfg.>"})
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "op", Password: "op"},
		{Name: "admin", Password: "admin", Permissions: cfgAdmin},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, opJS := newJSAs(t, tg.URL, nats.UserInfo("op", "op"))
	orders, err := opJS.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	watch := connect(t, tg.URL, nats.UserInfo("op", "op"))
	seen, err := watch.SubscribeSync("orders.>")
	if err != nil {
		t.Fatal(err)
	}
	watch.Flush()

	nc := connect(t, tg.URL, nats.UserInfo("admin", "admin"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	kvCfg := map[string]any{"name": "KV_cfg", "subjects": []string{"$KV.cfg.>"}, "max_msgs_per_subject": 1,
		"allow_direct": true, "allow_rollup_hdrs": true, "deny_delete": true, "discard": "new", "storage": "file", "num_replicas": 1}
	for _, dest := range []string{"orders.>", "orders.{{wildcard(1)}}"} {
		src := ">"
		if strings.Contains(dest, "wildcard") {
			src = "$KV.cfg.*"
		}
		evil := map[string]any{}
		for k, v := range kvCfg {
			evil[k] = v
		}
		evil["republish"] = map[string]any{"src": src, "dest": dest}
		// Created with the republish, or created plain and updated.
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", evil); !strings.Contains(desc, "Permissions Violation for Publish to") {
			t.Errorf("create KV_cfg republishing to %q: %q, want the publish violation", dest, desc)
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", evil); desc == "" {
			t.Errorf("create KV_cfg republishing to %q: accepted", dest)
			if err := opJS.DeleteStream(ctx, "KV_cfg"); err != nil {
				t.Fatal(err)
			}
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", kvCfg); desc != "" {
			t.Fatalf("create KV_cfg: %s", desc)
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", evil); desc == "" {
			t.Errorf("update KV_cfg republishing to %q: accepted", dest)
		}
		if _, err := nc.Request("$KV.cfg.k", []byte("from-admin"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if m, err := seen.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("republish to %q: a subscriber of orders.> got %q on %q", dest, m.Data, m.Subject)
		}
		info, err := orders.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 0 {
			t.Errorf("republish to %q: ORDERS holds %d messages written through the admin's bucket", dest, info.State.Msgs)
		}
		if err := opJS.DeleteStream(ctx, "KV_cfg"); err != nil {
			t.Fatal(err)
		}
	}
	// Allowed: a destination the admin may publish to, and, once the
	// operator has set one, resubmitting the stream's configuration.
	own := map[string]any{}
	for k, v := range kvCfg {
		own[k] = v
	}
	own["republish"] = map[string]any{"src": ">", "dest": "copy.cfg.>"}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", own); desc != "" {
		t.Fatalf("create KV_cfg republishing to copy.cfg.>: %s", desc)
	}
	opNC := connect(t, tg.URL, nats.UserInfo("op", "op"))
	opSet := map[string]any{}
	for k, v := range kvCfg {
		opSet[k] = v
	}
	opSet["republish"] = map[string]any{"src": ">", "dest": "audit.>"}
	if desc := rvAsk(t, opNC, "$JS.API.STREAM.UPDATE.KV_cfg", opSet); desc != "" {
		t.Fatalf("operator's update: %s", desc)
	}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", opSet); desc != "" {
		t.Fatalf("the admin resubmitting the operator's republish: %s", desc)
	}
}

// accountsTarget runs a daemon with accounts A and B (JetStream each)
// and C (none), users a, b, c and the global user g.
func accountsTarget(t *testing.T, mut func(*daemon.Config)) *target {
	t.Helper()
	cfg := daemon.Config{
		Server: server.Options{Auth: auth.Config{Users: []auth.User{
			{Name: "a", Password: "a", Account: "A"},
			{Name: "b", Password: "b", Account: "B"},
			{Name: "c", Password: "c", Account: "C"},
			{Name: "g", Password: "g"},
		}}},
		Accounts: []daemon.Account{
			{Name: "A", JetStream: &jsapi.AccountLimits{MaxMemory: -1, MaxFile: -1, MaxStreams: -1, MaxConsumers: -1}},
			{Name: "B", JetStream: &jsapi.AccountLimits{MaxMemory: -1, MaxFile: -1, MaxStreams: -1, MaxConsumers: -1}},
			{Name: "C"},
		},
	}
	if mut != nil {
		mut(&cfg)
	}
	return startWith(t, cfg)
}

// TestReviewAccountsNothingCrosses: while account A does everything a
// client can (KV writes, reads, watches, history, a republishing
// stream, a push consumer to a plain subject, flow control, requests
// without responders, core messages), a subscriber of ">" in each other
// account receives nothing, and B's own bucket of the same name is
// untouched.
func TestReviewAccountsNothingCrosses(t *testing.T) {
	tg := accountsTarget(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spies := map[string]*nats.Subscription{}
	for _, u := range []string{"b", "c", "g"} {
		nc := connect(t, tg.URL, nats.UserInfo(u, u))
		sub, err := nc.SubscribeSync(">")
		if err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		spies[u] = sub
	}
	_, bjs := newJSAs(t, tg.URL, nats.UserInfo("b", "b"))
	bkv, err := bjs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bkv.PutString(ctx, "k", "b's"); err != nil {
		t.Fatal(err)
	}
	// B's own traffic went to B's spy: drain it.
	for {
		if _, err := spies["b"].NextMsg(100 * time.Millisecond); err != nil {
			break
		}
	}

	anc, ajs := newJSAs(t, tg.URL, nats.UserInfo("a", "a"))
	akv, err := ajs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 5,
		RePublish: &jetstream.RePublish{Source: ">", Destination: "repub.>"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := akv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	big := strings.Repeat("x", 64<<10)
	for i := range 100 { // past the flow-control window
		if _, err := akv.PutString(ctx, "k"+strconv.Itoa(i%7), big); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := akv.Get(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := akv.History(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := akv.ListKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := akv.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := anc.Request("$JS.API.CONSUMER.CREATE.KV_cfg", []byte(`{"stream_name":"KV_cfg","config":{"deliver_subject":"plain.deliver","ack_policy":"none","idle_heartbeat":100000000,"flow_control":true}}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := anc.Request("nobody.listens", nil, time.Second); err == nil {
		t.Fatal("request to nobody: answered")
	}
	anc.Publish("core.msg", []byte("a's"))
	anc.Flush()
	got := 0
	for u, sub := range spies {
		for {
			m, err := sub.NextMsg(300 * time.Millisecond)
			if err != nil {
				break
			}
			got++
			if got < 10 {
				t.Errorf("%s's subscriber of > got %q (%d bytes) from account A", u, m.Subject, len(m.Data))
			}
		}
	}
	// Count the updates the watcher got, so it did run past flow control.
	n := 0
	for e := range w.Updates() {
		if e == nil {
			continue
		}
		if n++; n == 100 {
			break
		}
	}
	if e, err := bkv.Get(ctx, "k"); err != nil || string(e.Value()) != "b's" || e.Revision() != 1 {
		t.Fatalf("B's cfg.k after A's traffic: %v %v", e, err)
	}
}

// TestReviewReloadDuringConnectFlood: while clients of a user keep
// connecting (CONNECT pipelined with a PUB into the bucket), a reload
// removes that user and another moves the permissions of a second one
// from read-write to read-only. Once the reload has returned, no
// connection of the removed user is open and no write of the
// downgraded one lands any more.
func TestReviewReloadDuringConnectFlood(t *testing.T) {
	rw := rvPerms(t, []string{"$KV.cfg.>", "_INBOX.>"}, []string{"_INBOX.>"})
	ro := rvPerms(t, []string{"_INBOX.>"}, []string{"_INBOX.>"})
	users := func(gone bool, p *auth.Permissions) auth.Config {
		u := []auth.User{{Name: "admin", Password: "secret"}, {Name: "w", Password: "w", Permissions: p}}
		if !gone {
			u = append(u, auth.User{Name: "gone", Password: "gone"})
		}
		return auth.Config{Users: u}
	}
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: users(false, rw)}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := newJSAs(t, tg.URL, nats.UserInfo("admin", "secret"))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	var open sync.Map // net.Conn of "gone" that got PONG
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "gone"
			if g%2 == 1 {
				user = "w"
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", tg.Addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				r := bufio.NewReader(c)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := r.ReadString('\n'); err != nil {
					c.Close()
					continue
				}
				fmt.Fprintf(c, "CONNECT {\"verbose\":false,\"user\":%q,\"pass\":%q}\r\nPING\r\n", user, user)
				l, err := r.ReadString('\n')
				if err != nil || l != "PONG\r\n" {
					c.Close()
					continue
				}
				if user == "gone" {
					open.Store(c, r)
					continue
				}
				// w keeps writing after the reload turned it read-only.
				go func() {
					defer c.Close()
					for j := 0; ; j++ {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := fmt.Fprintf(c, "PUB $KV.cfg.w%d 1\r\nx\r\n", g); err != nil {
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
				if i > 20 {
					// Enough writers per goroutine.
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	newCfg := tg.cfg
	newCfg.Server.Auth = users(true, ro)
	if err := tg.d.Reload(newCfg); err != nil {
		t.Fatal(err)
	}
	// After the reload: what w writes now must not land.
	before, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	after, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if after.Values() != before.Values() {
		t.Errorf("read-only w still wrote: %d values after the reload, %d later", before.Values(), after.Values())
	}
	kept := 0
	open.Range(func(k, v any) bool {
		c, r := k.(net.Conn), v.(*bufio.Reader)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "PING\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break // closed
			}
			if l == "PONG\r\n" {
				kept++
				break
			}
		}
		c.Close()
		return true
	})
	if kept > 0 {
		t.Fatalf("%d connections of the removed user still open after the reload", kept)
	}
}

// TestReviewKillNineDuringAccountCreations: two accounts create buckets
// of the same names and write into them at once; the server is killed
// with SIGKILL in the middle and restarted, twice. Each account's
// buckets hold only its own values, every acknowledged value is there,
// and the account's max_streams still holds after the restarts.
func TestReviewKillNineDuringAccountCreations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills cairn-server")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "accounts.conf")
	if err := os.WriteFile(conf, []byte(`
jetstream {}
accounts {
  A: { users: [ { user: a, password: a } ], jetstream: { max_streams: 6 } }
  "a/b": { users: [ { user: b, password: b } ], jetstream: { max_streams: 6 } }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	type ack struct {
		bucket, key, val string
	}
	acked := map[string][]ack{}
	for round := range 2 {
		p := startProcess(t, store, "-c", conf)
		var mu sync.Mutex
		var wg sync.WaitGroup
		n := 0
		killed := make(chan struct{})
		var once sync.Once
		for _, u := range []string{"a", "b"} {
			for w := range 3 {
				nc := connect(t, p.URL, nats.UserInfo(u, u), nats.NoReconnect())
				js, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						bucket := "b" + strconv.Itoa((w+i)%5)
						kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, History: 64})
						if err != nil {
							cancel()
							return
						}
						key, val := "k"+strconv.Itoa(w), fmt.Sprintf("%s r%d w%d i%d", u, round, w, i)
						_, err = kv.PutString(ctx, key, val)
						cancel()
						if err != nil {
							return
						}
						mu.Lock()
						acked[u] = append(acked[u], ack{bucket, key, val})
						if n++; n == 150 {
							once.Do(func() { p.Kill(); close(killed) })
						}
						mu.Unlock()
					}
				}()
			}
		}
		select {
		case <-killed:
		case <-time.After(60 * time.Second):
			p.Kill()
			t.Fatal("too few acknowledgements")
		}
		wg.Wait()
	}
	p := startProcess(t, store, "-c", conf)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, u := range []string{"a", "b"} {
		_, js := newJSAs(t, p.URL, nats.UserInfo(u, u))
		last := map[[2]string]string{}
		for _, a := range acked[u] {
			last[[2]string{a.bucket, a.key}] = a.val
		}
		for bk, val := range last {
			kv, err := js.KeyValue(ctx, bk[0])
			if err != nil {
				t.Fatalf("%s: bucket %s: %v", u, bk[0], err)
			}
			hist, err := kv.History(ctx, bk[1])
			if err != nil {
				t.Fatalf("%s: %s.%s: %v", u, bk[0], bk[1], err)
			}
			found := false
			for _, e := range hist {
				if !strings.HasPrefix(string(e.Value()), u+" ") {
					t.Fatalf("account of %s: %s.%s holds %q", u, bk[0], bk[1], e.Value())
				}
				found = found || string(e.Value()) == val
			}
			if !found {
				t.Errorf("%s: acknowledged %s.%s = %q lost", u, bk[0], bk[1], val)
			}
		}
		// 5 buckets exist; the sixth fits, the seventh does not.
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sixth"}); err != nil {
			t.Fatalf("%s: sixth bucket: %v", u, err)
		}
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "seventh"}); !strings.Contains(fmt.Sprint(err), "maximum number of streams") {
			t.Fatalf("%s: seventh bucket past max_streams 6: %v", u, err)
		}
	}
	if _, err := os.Stat(filepath.Join(store, "accounts", "a%2Fb")); err != nil {
		t.Fatalf("account a/b's directory: %v", err)
	}
}

// TestReviewNoAuthUserInAccount: no_auth_user naming a user of account
// A puts a client without credentials in A, with a CONNECT or with a
// PUB sent first: it reads A's bucket, and B's bucket of the same name
// is not reachable.
func TestReviewNoAuthUserInAccount(t *testing.T) {
	tg := accountsTarget(t, func(c *daemon.Config) { c.Server.Auth.NoAuthUser = "a" })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range []string{"a", "b"} {
		_, js := newJSAs(t, tg.URL, nats.UserInfo(u, u))
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.PutString(ctx, "owner", u); err != nil {
			t.Fatal(err)
		}
	}
	_, js := newJSAs(t, tg.URL)
	kv, err := js.KeyValue(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got := getString(t, kv, "owner"); got != "a" {
		t.Fatalf("no_auth_user of account A reads owner %q", got)
	}
	// PUB first, without CONNECT: a write into A's bucket, not B's.
	ac := dialAuth(t, tg.Addr)
	ac.send("PUB $KV.cfg.first 5\r\nfirst\r\nPING\r\n")
	if got := ac.until("PONG\r\n"); !strings.HasSuffix(got, "PONG\r\n") || strings.Contains(got, "-ERR") {
		t.Fatalf("PUB first: %q", got)
	}
	if got := getString(t, kv, "first"); got != "first" {
		t.Fatalf("A's first: %q", got)
	}
	_, bjs := newJSAs(t, tg.URL, nats.UserInfo("b", "b"))
	bkv, err := bjs.KeyValue(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got := getString(t, bkv, "first"); got != "<none>" {
		t.Fatalf("B's bucket got %q", got)
	}
}

// A stream's subjects are a subscription made on its configurer's
// behalf: every message published on them is stored, and whoever may
// read the stream reads it. The admin of bucket cfg (allowed to create,
// update and read KV_cfg, subscribing only to its own inbox) must not be able to give KV_cfg other subjects and
// read what others publish there: another client's inbox, with the
// values of buckets the admin may not read, or plain traffic.
func TestReviewStreamCaptureOutsidePermissions(t *testing.T) {
	admin := rvPerms(t, []string{"$JS.API.INFO", "$JS.API.STREAM.CREATE.KV_cfg", "$JS.API.STREAM.UPDATE.KV_cfg", "$JS.API.STREAM.INFO.KV_cfg", "$JS.API.DIRECT.GET.KV_cfg.>", "$KV.cfg.>"},
		[]string{"_INBOX_admin.>"})
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "op", Password: "op"},
		{Name: "admin", Password: "admin", Permissions: admin},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc := connect(t, tg.URL, nats.UserInfo("admin", "admin"), nats.CustomInboxPrefix("_INBOX_admin"),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	// nats.go's own bucket creation still works, without a subscribe
	// permission on the bucket's subjects (its own namespace is exempt).
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"}); err != nil {
		t.Fatalf("CreateKeyValue as the bucket admin: %v", err)
	}
	if _, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 3}); err != nil {
		t.Fatalf("UpdateKeyValue as the bucket admin: %v", err)
	}
	_, opJS := newJSAs(t, tg.URL, nats.UserInfo("op", "op"))
	secret, err := opJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := secret.PutString(ctx, "k", "top secret"); err != nil {
		t.Fatal(err)
	}
	kvCfg := func(subjects ...string) map[string]any {
		return map[string]any{"name": "KV_cfg", "subjects": subjects, "max_msgs_per_subject": 3,
			"allow_direct": true, "allow_rollup_hdrs": true, "deny_delete": true, "discard": "new", "storage": "file", "num_replicas": 1}
	}
	for _, extra := range []string{"_INBOX.>", "plain.>", "$KV.other.>"} {
		if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", kvCfg("$KV.cfg.>", extra)); !strings.Contains(desc, "Permissions Violation for Subscription to") {
			t.Errorf("update KV_cfg adding %q: %q, want the subscription violation", extra, desc)
		}
	}
	if err := opJS.DeleteStream(ctx, "KV_cfg"); err != nil {
		t.Fatal(err)
	}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", kvCfg("$KV.cfg.>", "_INBOX.>", "plain.>")); !strings.Contains(desc, "Permissions Violation for Subscription to") {
		t.Errorf("create KV_cfg on _INBOX.> and plain.>: %q, want the subscription violation", desc)
	}
	// Whatever was accepted, nothing others publish lands in KV_cfg.
	if _, err := opJS.KeyValue(ctx, "cfg"); err == nil {
		op := connect(t, tg.URL, nats.UserInfo("op", "op"))
		op.Publish("plain.x", []byte("plain traffic"))
		if _, err := secret.Get(ctx, "k"); err != nil { // the answer goes to op's _INBOX
			t.Fatal(err)
		}
		op.Flush()
		info, err := opJS.Stream(ctx, "KV_cfg")
		if err != nil {
			t.Fatal(err)
		}
		if n := info.CachedInfo().State.Msgs; n != 0 {
			t.Errorf("KV_cfg captured %d messages of other clients", n)
		}
	}
	// An operator may give the stream any subjects; the admin may then
	// resubmit that configuration.
	if _, err := opJS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "KV_cfg", Subjects: []string{"$KV.cfg.>", "audit.cfg.>"}, MaxMsgsPerSubject: 3,
		AllowDirect: true, AllowRollup: true, DenyDelete: true, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", kvCfg("$KV.cfg.>", "audit.cfg.>")); desc != "" {
		t.Errorf("the admin resubmitting the operator's subjects: %s", desc)
	}
}

// A service with allow_responses may answer the reply subject of each
// request it receives, whatever its own publish permissions; the reply
// subject is chosen by the requester. A reader of bucket cfg, allowed to
// send requests to the service but not to write the bucket, sent one
// with reply $KV.cfg.evil, and the service's answer was stored as key
// evil: the in-process exploit of issue 10 through a client service.
// The service is now allowed to answer only where the requester may be
// answered (the reply rule), and the requester gets the violation.
func TestReviewAllowResponsesConfusedDeputy(t *testing.T) {
	svcPerms, err := auth.NewPermissionsWithResponses(nil, &auth.Rules{Allow: []string{"svc.>"}}, &auth.Responses{})
	if err != nil {
		t.Fatal(err)
	}
	reader := rvPerms(t, []string{"svc.>", "$JS.API.DIRECT.GET.KV_cfg.>"}, []string{"_INBOX.>"})
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "op", Password: "op"},
		{Name: "svc", Password: "svc", Permissions: svcPerms},
		{Name: "r", Password: "r", Permissions: reader},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, opJS := newJSAs(t, tg.URL, nats.UserInfo("op", "op"))
	kv, err := opJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	svcErrs := make(chan error, 10)
	svc := connect(t, tg.URL, nats.UserInfo("svc", "svc"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { svcErrs <- err }))
	answered := make(chan string, 10)
	if _, err := svc.Subscribe("svc.echo", func(m *nats.Msg) {
		m.Respond([]byte("answer of svc"))
		answered <- m.Reply
	}); err != nil {
		t.Fatal(err)
	}
	svc.Flush()
	// An ordinary request is answered.
	r := connect(t, tg.URL, nats.UserInfo("r", "r"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if m, err := r.Request("svc.echo", nil, 5*time.Second); err != nil || string(m.Data) != "answer of svc" {
		t.Fatalf("request to the service: %v, %v", m, err)
	}
	ac := dialAuth(t, tg.Addr)
	ac.send("CONNECT {\"verbose\":false,\"headers\":true,\"user\":\"r\",\"pass\":\"r\"}\r\nPUB svc.echo $KV.cfg.evil 2\r\nhi\r\nPING\r\n")
	got := ac.until("PONG\r\n")
	for reply := range answered {
		if reply == "$KV.cfg.evil" {
			break
		}
	}
	if err := svc.Flush(); err != nil { // its answer has been processed
		t.Fatal(err)
	}
	if v := getString(t, kv, "evil"); v != "<none>" {
		t.Fatalf("the service's answer to r's request was stored as key evil: %q", v)
	}
	if !strings.Contains(got, `-ERR 'Permissions Violation for Publish to "$KV.cfg.evil"'`) {
		t.Errorf("r got %q, want the violation for its reply subject", got)
	}
}

// TestReviewConsumerUpdateDeliverSubject: the reply rule for deliver
// subjects holds for an update of an existing consumer (action update,
// and a create naming the consumer again) as for its creation, and a
// consumer whose update was refused keeps delivering where it did.
func TestReviewConsumerUpdateDeliverSubject(t *testing.T) {
	reader := rvPerms(t, []string{"$JS.API.CONSUMER.CREATE.KV_cfg.>", "$JS.API.CONSUMER.DURABLE.CREATE.KV_cfg.>", "$JS.API.CONSUMER.INFO.KV_cfg.*"}, []string{"_INBOX.>"})
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "op", Password: "op"},
		{Name: "r", Password: "r", Permissions: reader},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, opJS := newJSAs(t, tg.URL, nats.UserInfo("op", "op"))
	kv, err := opJS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	op := connect(t, tg.URL, nats.UserInfo("op", "op"))
	orders, err := op.SubscribeSync("orders.new")
	if err != nil {
		t.Fatal(err)
	}
	op.Flush()
	nc := connect(t, tg.URL, nats.UserInfo("r", "r"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	inbox, err := nc.SubscribeSync("_INBOX.r.deliver")
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(action, deliver string) map[string]any {
		return map[string]any{"stream_name": "KV_cfg", "action": action, "config": map[string]any{
			"name": "w", "deliver_subject": deliver, "ack_policy": "none", "filter_subject": "$KV.cfg.>", "inactive_threshold": int64(time.Minute)}}
	}
	if desc := rvAsk(t, nc, "$JS.API.CONSUMER.CREATE.KV_cfg.w", cfg("create", "_INBOX.r.deliver")); desc != "" {
		t.Fatalf("create on its inbox: %s", desc)
	}
	for _, action := range []string{"update", ""} {
		if desc := rvAsk(t, nc, "$JS.API.CONSUMER.CREATE.KV_cfg.w", cfg(action, "orders.new")); !strings.Contains(desc, "Permissions Violation for Publish to") {
			t.Errorf("action %q to orders.new: %q, want the violation", action, desc)
		}
	}
	if desc := rvAsk(t, nc, "$JS.API.CONSUMER.DURABLE.CREATE.KV_cfg.w", cfg("", "orders.new")); desc == "" {
		t.Errorf("durable create to orders.new: accepted")
	}
	if _, err := kv.PutString(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if m, err := inbox.NextMsg(5 * time.Second); err != nil || string(m.Data) != "v" {
		t.Fatalf("the consumer's own deliveries: %v, %v", m, err)
	}
	if m, err := orders.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("orders.new got %q from the bucket", m.Data)
	}
}
