// Package accounts checks issue 10's accounts through nats.go against
// cairn-server and the nats-server peer, both started with the same
// config file (examples/accounts.conf): each account is a namespace of
// its own with its own JetStream API and buckets, account JetStream
// limits are enforced with nats-server's errors, accounts without
// JetStream answer 10039, and each account's buckets live in a
// directory of their own.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinaries()
	os.Exit(code)
}

// conf is the example both servers run.
const conf = "../../examples/accounts.conf"

// Users of conf, by account.
var passwords = map[string]string{
	"orders": "orders-secret", "billing": "billing-secret", "billing-ro": "billing-ro-secret",
	"guest": "guest-secret", "ops": "ops-secret",
}

// onBoth runs check against cairn-server and nats-server, each started
// with conf over an empty store directory.
func onBoth(t *testing.T, check func(t *testing.T, url string)) {
	t.Run("cairn", func(t *testing.T) {
		check(t, testserver.StartCairnProcess(t, t.TempDir(), "-c", conf).URL)
	})
	t.Run("peer", func(t *testing.T) {
		check(t, testserver.StartPeer(t, "-c", conf).URL)
	})
}

func connect(t *testing.T, url, user string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, passwords[user]), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// apiCode returns the JetStream error code of err, 0 if it has none.
func apiCode(err error) jetstream.ErrorCode {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.ErrorCode
	}
	return 0
}

// TestAccountsIsolateBuckets: two accounts each have a bucket "config";
// neither sees the other's keys, revisions, watch updates, messages or
// streams.
func TestAccountsIsolateBuckets(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		onc, ojs := connect(t, url, "orders")
		bnc, bjs := connect(t, url, "billing")
		okv, err := ojs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "config", History: 5})
		if err != nil {
			t.Fatal(err)
		}
		bkv, err := bjs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "config"})
		if err != nil {
			t.Fatalf("second account, same bucket name: %v", err)
		}
		w, err := okv.WatchAll(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if e := <-w.Updates(); e != nil {
			t.Fatalf("empty bucket: watcher got %v before its end marker", e.Key())
		}
		if _, err := okv.PutString(ctx(t), "k", "orders"); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := bkv.PutString(ctx(t), "k", "billing"); err != nil {
				t.Fatal(i, err)
			}
		}
		if _, err := bkv.PutString(ctx(t), "only-billing", "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := okv.PutString(ctx(t), "k2", "orders"); err != nil {
			t.Fatal(err)
		}
		// Each account's values and revisions are its own.
		oe, err := okv.Get(ctx(t), "k")
		if err != nil || string(oe.Value()) != "orders" || oe.Revision() != 1 {
			t.Fatalf("orders k = %v, %v", oe, err)
		}
		be, err := bkv.Get(ctx(t), "k")
		if err != nil || string(be.Value()) != "billing" || be.Revision() != 3 {
			t.Fatalf("billing k = %v, %v", be, err)
		}
		if _, err := okv.Get(ctx(t), "only-billing"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatalf("orders sees billing's key: %v", err)
		}
		keys, err := okv.ListKeys(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for k := range keys.Keys() {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"k", "k2"}) {
			t.Fatalf("orders keys = %v", got)
		}
		// The watcher sees orders' two puts and nothing of billing's.
		for _, want := range []string{"k", "k2"} {
			select {
			case e := <-w.Updates():
				if e == nil || e.Key() != want || string(e.Value()) != "orders" {
					t.Fatalf("watcher got %v, want %s", e, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("watcher: no update for %s", want)
			}
		}
		select {
		case e := <-w.Updates():
			t.Fatalf("watcher got another account's update %s=%q", e.Key(), e.Value())
		case <-time.After(200 * time.Millisecond):
		}

		// Core messages stay in their account too.
		sub, err := onc.SubscribeSync("news.>")
		if err != nil {
			t.Fatal(err)
		}
		if err := onc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := bnc.Publish("news.billing", []byte("b")); err != nil {
			t.Fatal(err)
		}
		if err := bnc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := onc.Publish("news.orders", []byte("o")); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil || m.Subject != "news.orders" {
			t.Fatalf("orders got %v, %v; want its own news.orders first and only", m, err)
		}
		if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
			t.Fatalf("orders got another account's message on %s", m.Subject)
		}

		// A $JS.API request naming another account's stream finds
		// nothing; a direct get of it has no responder.
		if _, err := bjs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "secret"}); err != nil {
			t.Fatalf("billing's second bucket: %v", err)
		}
		if _, err := ojs.Stream(ctx(t), "KV_secret"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("orders asking for billing's stream: %v", err)
		}
		if _, err := onc.Request("$JS.API.DIRECT.GET.KV_secret.$KV.secret.k", nil, 2*time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("orders direct get of billing's stream: %v", err)
		}
		if _, err := ojs.KeyValue(ctx(t), "secret"); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Fatalf("orders opening billing's bucket: %v", err)
		}
	})
}

// TestAccountsWithoutJetStream: an account without JetStream, and the
// global account once accounts are configured, answer 10039; their
// core publish/subscribe works.
func TestAccountsWithoutJetStream(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		for _, user := range []string{"guest", "ops"} {
			nc, js := connect(t, url, user)
			if _, err := js.AccountInfo(ctx(t)); !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
				t.Errorf("%s: account info: %v, want %v", user, err, jetstream.ErrJetStreamNotEnabledForAccount)
			}
			if _, err := js.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "config"}); apiCode(err) != jetstream.JSErrCodeJetStreamNotEnabledForAccount {
				t.Errorf("%s: create bucket: %v", user, err)
			}
			names := js.StreamNames(ctx(t))
			for range names.Name() {
				t.Errorf("%s: a stream listed", user)
			}
			if apiCode(names.Err()) != jetstream.JSErrCodeJetStreamNotEnabledForAccount {
				t.Errorf("%s: stream names: %v", user, names.Err())
			}
			// Backup and restore requests are answered alike.
			for subj, typ := range map[string]string{
				"$JS.API.STREAM.SNAPSHOT.KV_config": "io.nats.jetstream.api.v1.stream_snapshot_response",
				"$JS.API.STREAM.RESTORE.KV_config":  "io.nats.jetstream.api.v1.stream_restore_response",
			} {
				m, err := nc.Request(subj, []byte(`{"deliver_subject":"_INBOX.backup","chunk_size":65536}`), 5*time.Second)
				if err != nil {
					t.Errorf("%s: %s: %v", user, subj, err)
					continue
				}
				var resp struct {
					Type  string `json:"type"`
					Error struct {
						ErrCode int `json:"err_code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(m.Data, &resp); err != nil || resp.Type != typ || resp.Error.ErrCode != 10039 {
					t.Errorf("%s: %s: answer %s (%v), want type %s and error 10039", user, subj, m.Data, err, typ)
				}
			}
			sub, err := nc.SubscribeSync("ping")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("ping", []byte(user)); err != nil {
				t.Fatal(err)
			}
			if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != user {
				t.Errorf("%s: core pub/sub: %v, %v", user, m, err)
			}
		}
	})
}

// TestAccountLimits: BILLING's jetstream limits are reported by
// $JS.API.INFO and enforced with nats-server's errors; ORDERS, with
// jetstream enabled and no limits, reports none.
func TestAccountLimits(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		_, bjs := connect(t, url, "billing")
		info, err := bjs.AccountInfo(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if l := info.Limits; l.MaxMemory != 1000000 || l.MaxStore != 10000000 || l.MaxStreams != 2 || l.MaxConsumers != 3 {
			t.Fatalf("billing limits = %+v", l)
		}
		_, ojs := connect(t, url, "orders")
		oinfo, err := ojs.AccountInfo(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if l := oinfo.Limits; l.MaxMemory != -1 || l.MaxStore != -1 || l.MaxStreams != -1 || l.MaxConsumers != -1 {
			t.Fatalf("orders limits = %+v", l)
		}

		for _, c := range []struct {
			cfg  jetstream.KeyValueConfig
			want jetstream.ErrorCode
		}{
			{jetstream.KeyValueConfig{Bucket: "mem", Storage: jetstream.MemoryStorage, MaxBytes: 2_000_000}, 10028},
			{jetstream.KeyValueConfig{Bucket: "file", MaxBytes: 20_000_000}, 10047},
		} {
			if _, err := bjs.CreateKeyValue(ctx(t), c.cfg); apiCode(err) != c.want {
				t.Errorf("bucket %s: %v, want error %d", c.cfg.Bucket, err, c.want)
			}
		}
		for _, b := range []string{"one", "two"} {
			if _, err := bjs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: b, MaxBytes: 4_000_000}); err != nil {
				t.Fatalf("bucket %s: %v", b, err)
			}
		}
		if _, err := bjs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "three"}); apiCode(err) != 10027 {
			t.Fatalf("third bucket: %v, want 10027", err)
		}
		// The reservations count: 4 MB + 4 MB leave 2 MB of 10.
		s, err := bjs.Stream(ctx(t), "KV_two")
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.MaxBytes = 7_000_000
		if _, err := bjs.UpdateStream(ctx(t), cfg); apiCode(err) != 10047 {
			t.Fatalf("raising a reservation past max_file: %v, want 10047", err)
		}
		// max_consumers bounds the consumers of each stream (as
		// nats-server applies an account's limit): a fourth watcher of
		// one bucket is refused, one of another bucket is not.
		one, err := bjs.KeyValue(ctx(t), "one")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			w, err := one.WatchAll(ctx(t))
			if err != nil {
				t.Fatalf("watcher %d: %v", i, err)
			}
			defer w.Stop()
		}
		// (nats.go's watcher reports the API error by its text alone.)
		if w, err := one.WatchAll(ctx(t)); err == nil || !strings.Contains(err.Error(), "maximum consumers limit reached") {
			if err == nil {
				w.Stop()
			}
			t.Fatalf("fourth watcher: %v, want 10026", err)
		}
		two, err := bjs.KeyValue(ctx(t), "two")
		if err != nil {
			t.Fatal(err)
		}
		w, err := two.WatchAll(ctx(t))
		if err != nil {
			t.Fatalf("a watcher of another bucket: %v", err)
		}
		w.Stop()
		// Orders is not limited by billing's limits.
		for _, b := range []string{"a", "b", "c"} {
			if _, err := ojs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: b, MaxBytes: 8_000_000}); err != nil {
				t.Fatalf("orders bucket %s: %v", b, err)
			}
		}
	})
}

// TestAccountPermissions: permissions apply inside an account; the
// read-only user of BILLING reads but cannot write.
func TestAccountPermissions(t *testing.T) {
	onBoth(t, func(t *testing.T, url string) {
		_, bjs := connect(t, url, "billing")
		kv, err := bjs.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "config"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.PutString(ctx(t), "k", "v"); err != nil {
			t.Fatal(err)
		}
		_, rjs := connect(t, url, "billing-ro")
		rkv, err := rjs.KeyValue(ctx(t), "config")
		if err != nil {
			t.Fatal(err)
		}
		if e, err := rkv.Get(ctx(t), "k"); err != nil || string(e.Value()) != "v" {
			t.Fatalf("reader get: %v, %v", e, err)
		}
		short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if _, err := rkv.PutString(short, "k", "w"); err == nil {
			t.Fatal("reader put succeeded")
		}
		if e, err := kv.Get(ctx(t), "k"); err != nil || string(e.Value()) != "v" || e.Revision() != 1 {
			t.Fatalf("after the reader's put: %v, %v", e, err)
		}
	})
}

// TestAccountsOnDisk: each account's buckets are in their own directory
// under the store directory; they survive a kill -9, and removing one
// account's directory removes that account's buckets alone.
func TestAccountsOnDisk(t *testing.T) {
	dir := t.TempDir()
	p := testserver.StartCairnProcess(t, dir, "-c", conf)
	for _, user := range []string{"orders", "billing"} {
		_, js := connect(t, p.URL, user)
		kv, err := js.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "config"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.PutString(ctx(t), "owner", user); err != nil {
			t.Fatal(err)
		}
	}
	p.Kill()
	for _, acc := range []string{"ORDERS", "BILLING"} {
		if st, err := os.Stat(filepath.Join(dir, "accounts", acc)); err != nil || !st.IsDir() {
			t.Fatalf("account %s has no directory: %v", acc, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "accounts", "PUBLIC")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an account without JetStream has a directory: %v", err)
	}
	owner := func(url, user string) (string, error) {
		_, js := connect(t, url, user)
		kv, err := js.KeyValue(ctx(t), "config")
		if err != nil {
			return "", err
		}
		e, err := kv.Get(ctx(t), "owner")
		if err != nil {
			return "", err
		}
		return string(e.Value()), nil
	}
	p = testserver.StartCairnProcess(t, dir, "-c", conf)
	for _, user := range []string{"orders", "billing"} {
		if got, err := owner(p.URL, user); err != nil || got != user {
			t.Fatalf("%s after kill -9: %q, %v", user, got, err)
		}
	}
	p.Kill()
	if err := os.RemoveAll(filepath.Join(dir, "accounts", "BILLING")); err != nil {
		t.Fatal(err)
	}
	p = testserver.StartCairnProcess(t, dir, "-c", conf)
	if got, err := owner(p.URL, "orders"); err != nil || got != "orders" {
		t.Fatalf("orders after billing was removed: %q, %v", got, err)
	}
	if _, err := owner(p.URL, "billing"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("billing after its directory was removed: %v", err)
	}
}

// TestAccountDir: any account name is one path element of its own.
func TestAccountDir(t *testing.T) {
	for name, want := range map[string]string{
		"ORDERS": "ORDERS", "a-b_c": "a-b_c", "..": "%2E%2E", "a/b": "a%2Fb", "a%2Fb": "a%252Fb", "ä": "%C3%A4",
	} {
		if got := daemon.AccountDir("/s", name); got != filepath.Join("/s", "accounts", want) {
			t.Errorf("AccountDir(%q) = %q", name, got)
		}
	}
	if got := daemon.AccountDir("/s", ""); got != "/s" {
		t.Errorf("global account: %q", got)
	}
}
