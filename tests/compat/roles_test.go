package compat

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// Least-privilege KV roles (docs/SECURITY.md, "Least-privilege sets for
// KV"): cairn-server and nats-server each run examples/kv-roles.conf and
// the same table of operations runs against both. Every operation a role
// needs must work (the set is sufficient) and every other one tried must
// be refused with a publish permissions violation for the subject the
// table names (the set is least), on both servers.

// confServer starts a server from a config file, on a free loopback port
// with a temporary store, stopped when t ends, and returns its URL.
type confServer struct {
	name  string
	start func(t *testing.T, conf string) string
}

// confServers are cairn-server (the binary, so the file is read as users
// read it) and the nats-server peer.
var confServers = []confServer{
	{"cairn-server", func(t *testing.T, conf string) string {
		return testserver.StartCairnProcess(t, t.TempDir(), "-c", conf).URL
	}},
	{"nats-server", func(t *testing.T, conf string) string {
		return testserver.StartPeer(t, "-c", conf).URL
	}},
}

// exampleConf returns the absolute path of examples/<name>.
func exampleConf(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// examplePassword is user's password in the example configs (their
// comments say so; the files hold bcrypt hashes).
func examplePassword(user string) string { return "example-" + user + "-password-change-me" }

// roleClient is one user's nats.go connection, with the errors the server
// reported to it asynchronously (permissions violations among them).
type roleClient struct {
	user string
	js   jetstream.JetStream
	kv   jetstream.KeyValue // once the role opened bucket cfg

	mu     sync.Mutex
	errors []string
}

// connectRole connects as user of examples/kv-roles.conf, with the inbox
// prefix that user may subscribe to.
func connectRole(t *testing.T, url, user string) *roleClient {
	t.Helper()
	rc := &roleClient{user: user}
	nc, err := nats.Connect(url,
		nats.UserInfo(user, examplePassword(user)),
		nats.CustomInboxPrefix("_INBOX_"+user),
		nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			rc.mu.Lock()
			rc.errors = append(rc.errors, err.Error())
			rc.mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	if rc.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// errorCount is how many asynchronous errors rc has seen.
func (rc *roleClient) errorCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.errors)
}

// violationSince waits up to 2 s for a publish permissions violation for
// subject among the asynchronous errors after the first n.
func (rc *roleClient) violationSince(n int, subject string) bool {
	want := violationText(subject)
	deadline := time.Now().Add(2 * time.Second)
	for {
		rc.mu.Lock()
		seen := slices.ContainsFunc(rc.errors[n:], func(e string) bool { return strings.Contains(e, want) })
		rc.mu.Unlock()
		if seen || time.Now().After(deadline) {
			return seen
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// violationText is what both servers send when a publish to subject is
// refused.
func violationText(subject string) string {
	return fmt.Sprintf("Permissions Violation for Publish to %q", subject)
}

// roles are the three users of examples/kv-roles.conf on one server, and
// what the table's steps remember between them.
type roles struct {
	t                     *testing.T
	url                   string
	reader, writer, admin *roleClient
	revs                  map[string][]uint64 // key → revisions written, oldest first
	before                uint64              // the bucket's value count before the reader's attempts
}

func (r *roles) client(who string) *roleClient {
	switch who {
	case "reader":
		return r.reader
	case "writer":
		return r.writer
	}
	return r.admin
}

// natscli runs natscli as who and returns its output, and an error
// holding the output when the command failed.
func (r *roles) natscli(who string, args ...string) (string, error) {
	c := &cli{t: r.t, bin: natsCLI(r.t), url: r.url, timeout: "2s",
		args: []string{"--user", who, "--password", examplePassword(who), "--inbox-prefix", "_INBOX_" + who}}
	out, ok := c.run(args...)
	if !ok {
		return out, fmt.Errorf("nats %s: %s", strings.Join(args, " "), out)
	}
	return out, nil
}

// roleStep is one row of the table.
type roleStep struct {
	who  string // reader, writer or admin
	what string
	// denied is empty for an operation that must work; else the publish
	// the server must refuse (the operation must then fail).
	denied string
	run    func(ctx context.Context, r *roles) error
}

// TestKVRoles runs roleSteps as the users of examples/kv-roles.conf on
// cairn-server and nats-server.
func TestKVRoles(t *testing.T) {
	conf := exampleConf(t, "kv-roles.conf")
	for _, s := range confServers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel() // most of the time is spent waiting for refused requests to time out
			url := s.start(t, conf)
			r := &roles{t: t, url: url, revs: map[string][]uint64{},
				reader: connectRole(t, url, "reader"), writer: connectRole(t, url, "writer"), admin: connectRole(t, url, "admin")}
			for _, st := range roleSteps {
				runRoleStep(t, r, st)
			}
		})
	}
}

// runRoleStep runs one step and checks its outcome.
func runRoleStep(t *testing.T, r *roles, st roleStep) {
	t.Helper()
	timeout := 10 * time.Second
	if st.denied != "" {
		timeout = time.Second // a refused request only ends by timing out
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rc := r.client(st.who)
	n := rc.errorCount()
	err := st.run(ctx, r)
	switch {
	case st.denied == "" && err != nil:
		t.Fatalf("%s: %s: %v", st.who, st.what, err)
	case st.denied == "":
	case err == nil:
		t.Fatalf("%s: %s: succeeded, want a refused publish to %s", st.who, st.what, st.denied)
	case !strings.Contains(err.Error(), violationText(st.denied)) && !rc.violationSince(n, st.denied):
		t.Fatalf("%s: %s: %v, and no %s", st.who, st.what, err, violationText(st.denied))
	}
}

const bigValues, bigValueSize = 128, 64 << 10 // 8 MiB: past both servers' flow-control window

// roleSteps is the table, run in order. The admin makes and changes the
// bucket, the writer fills it, the reader reads it, the admin removes it.
// Refused steps come before the bucket holds large values: PurgeDeletes
// watches the whole bucket before it sends the refused purge, and that
// must take well under the refused steps' timeout.
var roleSteps = []roleStep{
	{"admin", "CreateKeyValue cfg", "", func(ctx context.Context, r *roles) (err error) {
		r.admin.kv, err = r.admin.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 5})
		return err
	}},
	{"admin", "CreateKeyValue other", "$JS.API.STREAM.CREATE.KV_other", func(ctx context.Context, r *roles) error {
		_, err := r.admin.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "other"})
		return err
	}},
	{"admin", "UpdateKeyValue cfg", "", func(ctx context.Context, r *roles) error {
		kv, err := r.admin.js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 10})
		if err != nil {
			return err
		}
		return wantHistory(ctx, kv, 10)
	}},
	{"admin", "KeyValueStoreNames", "", func(ctx context.Context, r *roles) error {
		l := r.admin.js.KeyValueStoreNames(ctx)
		var names []string
		for n := range l.Name() {
			names = append(names, n)
		}
		if l.Error() != nil || !slices.Equal(names, []string{"cfg"}) {
			return fmt.Errorf("names %q, %v", names, l.Error())
		}
		return nil
	}},
	{"admin", "KeyValueStores", "", func(ctx context.Context, r *roles) error {
		l := r.admin.js.KeyValueStores(ctx)
		var names []string
		for s := range l.Status() {
			names = append(names, s.Bucket())
		}
		if l.Error() != nil || !slices.Equal(names, []string{"cfg"}) {
			return fmt.Errorf("buckets %q, %v", names, l.Error())
		}
		return nil
	}},

	{"writer", "KeyValue cfg", "", func(ctx context.Context, r *roles) (err error) {
		r.writer.kv, err = r.writer.js.KeyValue(ctx, "cfg")
		return err
	}},
	{"writer", "Put a", "", func(ctx context.Context, r *roles) error { return r.put(ctx, "a", "a1") }},
	{"writer", "Create b", "", func(ctx context.Context, r *roles) error {
		_, err := r.writer.kv.Create(ctx, "b", []byte("b1"))
		return err
	}},
	{"writer", "Create b again (answered: key exists)", "", func(ctx context.Context, r *roles) error {
		if _, err := r.writer.kv.Create(ctx, "b", []byte("b2")); !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("got %v, want ErrKeyExists", err)
		}
		return nil
	}},
	{"writer", "Update a", "", func(ctx context.Context, r *roles) error {
		rev, err := r.writer.kv.Update(ctx, "a", []byte("a2"), r.revs["a"][0])
		r.revs["a"] = append(r.revs["a"], rev)
		return err
	}},
	{"writer", "Delete b", "", func(ctx context.Context, r *roles) error { return r.writer.kv.Delete(ctx, "b") }},
	{"writer", "Put and Purge c", "", func(ctx context.Context, r *roles) error {
		if err := r.put(ctx, "c", "c1"); err != nil {
			return err
		}
		return r.writer.kv.Purge(ctx, "c")
	}},
	{"writer", "Get a", "", func(ctx context.Context, r *roles) error { return r.wantValue(ctx, r.writer, "a", "a2") }},
	{"writer", "GetRevision a", "", func(ctx context.Context, r *roles) error { return r.wantFirstValue(ctx, r.writer) }},
	{"writer", "History a", "", func(ctx context.Context, r *roles) error { return wantHistoryOfA(ctx, r.writer) }},
	{"writer", "Keys", "", func(ctx context.Context, r *roles) error { return wantKeys(ctx, r.writer, 1) }},
	{"writer", "Watch a, then Stop", "", func(ctx context.Context, r *roles) error { return r.watchA(ctx, r.writer, "a3") }},
	{"writer", "Status", "", func(ctx context.Context, r *roles) error { return wantHistory(ctx, r.writer.kv, 10) }},
	{"writer", "DeleteKeyValue cfg", "$JS.API.STREAM.DELETE.KV_cfg", func(ctx context.Context, r *roles) error {
		return r.writer.js.DeleteKeyValue(ctx, "cfg")
	}},
	{"writer", "CreateKeyValue other", "$JS.API.INFO", func(ctx context.Context, r *roles) error {
		_, err := r.writer.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "other"})
		return err
	}},
	{"writer", "UpdateKeyValue cfg", "$JS.API.INFO", func(ctx context.Context, r *roles) error {
		_, err := r.writer.js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg", History: 1})
		return err
	}},
	{"writer", "PurgeDeletes", "$JS.API.STREAM.PURGE.KV_cfg", func(ctx context.Context, r *roles) error {
		return r.writer.kv.PurgeDeletes(ctx)
	}},
	{"writer", "KeyValueStoreNames", "$JS.API.STREAM.NAMES", func(ctx context.Context, r *roles) error {
		l := r.writer.js.KeyValueStoreNames(ctx)
		for range l.Name() { // drain: the error is known once the names are
		}
		return l.Error()
	}},
	{"writer", "KeyValue other", "$JS.API.STREAM.INFO.KV_other", func(ctx context.Context, r *roles) error {
		_, err := r.writer.js.KeyValue(ctx, "other")
		return err
	}},
	{"writer", "natscli kv put cfg n", "", func(ctx context.Context, r *roles) error {
		_, err := r.natscli("writer", "kv", "put", "cfg", "n", "n1")
		return err
	}},
	{"writer", "natscli kv rm cfg", "$JS.API.STREAM.DELETE.KV_cfg", func(ctx context.Context, r *roles) error {
		_, err := r.natscli("writer", "kv", "rm", "-f", "cfg")
		return err
	}},

	{"reader", "KeyValue cfg", "", func(ctx context.Context, r *roles) (err error) {
		r.reader.kv, err = r.reader.js.KeyValue(ctx, "cfg")
		return err
	}},
	{"reader", "Get a", "", func(ctx context.Context, r *roles) error { return r.wantValue(ctx, r.reader, "a", "a3") }},
	{"reader", "GetRevision a", "", func(ctx context.Context, r *roles) error { return r.wantFirstValue(ctx, r.reader) }},
	{"reader", "History a", "", func(ctx context.Context, r *roles) error { return wantHistoryOfA(ctx, r.reader) }},
	{"reader", "Watch a (the writer puts), then Stop", "", func(ctx context.Context, r *roles) error {
		return r.watchA(ctx, r.reader, "a4")
	}},
	{"reader", "Status", "", func(ctx context.Context, r *roles) error {
		s, err := r.reader.kv.Status(ctx)
		if err == nil {
			r.before = s.Values()
		}
		return err
	}},
	{"reader", "Put a", "$KV.cfg.a", func(ctx context.Context, r *roles) error {
		_, err := r.reader.kv.Put(ctx, "a", []byte("x"))
		return err
	}},
	{"reader", "Create z", "$KV.cfg.z", func(ctx context.Context, r *roles) error {
		_, err := r.reader.kv.Create(ctx, "z", []byte("x"))
		return err
	}},
	{"reader", "Update a", "$KV.cfg.a", func(ctx context.Context, r *roles) error {
		_, err := r.reader.kv.Update(ctx, "a", []byte("x"), r.revs["a"][len(r.revs["a"])-1])
		return err
	}},
	{"reader", "Delete a", "$KV.cfg.a", func(ctx context.Context, r *roles) error { return r.reader.kv.Delete(ctx, "a") }},
	{"reader", "Purge a", "$KV.cfg.a", func(ctx context.Context, r *roles) error { return r.reader.kv.Purge(ctx, "a") }},
	{"reader", "PurgeDeletes", "$JS.API.STREAM.PURGE.KV_cfg", func(ctx context.Context, r *roles) error {
		return r.reader.kv.PurgeDeletes(ctx)
	}},
	{"reader", "DeleteKeyValue cfg", "$JS.API.STREAM.DELETE.KV_cfg", func(ctx context.Context, r *roles) error {
		return r.reader.js.DeleteKeyValue(ctx, "cfg")
	}},
	{"reader", "CreateKeyValue other", "$JS.API.INFO", func(ctx context.Context, r *roles) error {
		_, err := r.reader.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "other"})
		return err
	}},
	{"reader", "KeyValue other", "$JS.API.STREAM.INFO.KV_other", func(ctx context.Context, r *roles) error {
		_, err := r.reader.js.KeyValue(ctx, "other")
		return err
	}},
	{"reader", "natscli kv get cfg a", "", func(ctx context.Context, r *roles) error {
		out, err := r.natscli("reader", "kv", "get", "cfg", "a")
		if err == nil && !strings.Contains(out, "a4") {
			err = fmt.Errorf("output lacks a4:\n%s", out)
		}
		return err
	}},
	{"reader", "natscli kv ls cfg", "", func(ctx context.Context, r *roles) error {
		out, err := r.natscli("reader", "kv", "ls", "cfg")
		if err == nil && !slices.Contains(strings.Fields(out), "a") {
			err = fmt.Errorf("output lacks key a:\n%s", out)
		}
		return err
	}},
	{"reader", "natscli kv info cfg", "", func(ctx context.Context, r *roles) error {
		_, err := r.natscli("reader", "kv", "info", "cfg")
		return err
	}},
	{"reader", "natscli kv put cfg a", "$KV.cfg.a", func(ctx context.Context, r *roles) error {
		_, err := r.natscli("reader", "kv", "put", "cfg", "a", "x")
		return err
	}},
	{"reader", "natscli kv ls", "$JS.API.STREAM.LIST", func(ctx context.Context, r *roles) error {
		_, err := r.natscli("reader", "kv", "ls")
		return err
	}},
	{"reader", "the bucket is unchanged", "", func(ctx context.Context, r *roles) error {
		s, err := r.reader.kv.Status(ctx)
		if err != nil {
			return err
		}
		if s.Values() != r.before {
			return fmt.Errorf("%d values, %d before the reader's attempts", s.Values(), r.before)
		}
		if err := r.wantValue(ctx, r.reader, "a", "a4"); err != nil {
			return err
		}
		if _, err := r.reader.kv.Get(ctx, "z"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("get z: %v, want ErrKeyNotFound", err)
		}
		return nil
	}},

	// Flow control: each role watches more than both servers send
	// before they wait for a flow-control answer (4 MiB).
	{"writer", fmt.Sprintf("Put %d values of %d KiB", bigValues, bigValueSize>>10), "", func(ctx context.Context, r *roles) error {
		value := make([]byte, bigValueSize)
		for i := range bigValues {
			if _, err := r.writer.kv.Put(ctx, fmt.Sprintf("big.%d", i), value); err != nil {
				return err
			}
		}
		return nil
	}},
	{"reader", "Keys", "", func(ctx context.Context, r *roles) error { return wantKeys(ctx, r.reader, 2+bigValues) }},
	{"reader", "Watch big.> (flow control)", "", func(ctx context.Context, r *roles) error { return watchBig(ctx, r.reader) }},
	{"writer", "Watch big.> (flow control)", "", func(ctx context.Context, r *roles) error { return watchBig(ctx, r.writer) }},
	{"admin", "Watch big.> (flow control)", "", func(ctx context.Context, r *roles) error { return watchBig(ctx, r.admin) }},

	{"admin", "natscli kv ls", "", func(ctx context.Context, r *roles) error {
		out, err := r.natscli("admin", "kv", "ls")
		if err == nil && !strings.Contains(out, "cfg") {
			err = fmt.Errorf("output lacks cfg:\n%s", out)
		}
		return err
	}},
	{"admin", "Put a", "", func(ctx context.Context, r *roles) error {
		rev, err := r.admin.kv.Put(ctx, "a", []byte("a5"))
		r.revs["a"] = append(r.revs["a"], rev)
		return err
	}},
	{"admin", "Get a", "", func(ctx context.Context, r *roles) error { return r.wantValue(ctx, r.admin, "a", "a5") }},
	{"admin", "GetRevision a", "", func(ctx context.Context, r *roles) error { return r.wantFirstValue(ctx, r.admin) }},
	{"admin", "Watch a (the writer puts), then Stop", "", func(ctx context.Context, r *roles) error {
		return r.watchA(ctx, r.admin, "a6")
	}},
	{"admin", "PurgeDeletes", "", func(ctx context.Context, r *roles) error { return r.admin.kv.PurgeDeletes(ctx) }},
	{"admin", "DeleteKeyValue cfg", "", func(ctx context.Context, r *roles) error {
		if err := r.admin.js.DeleteKeyValue(ctx, "cfg"); err != nil {
			return err
		}
		if _, err := r.admin.js.KeyValue(ctx, "cfg"); !errors.Is(err, jetstream.ErrBucketNotFound) {
			return fmt.Errorf("after delete: %v, want ErrBucketNotFound", err)
		}
		return nil
	}},
}

// put writes key as the writer and remembers its revision.
func (r *roles) put(ctx context.Context, key, value string) error {
	rev, err := r.writer.kv.Put(ctx, key, []byte(value))
	r.revs[key] = append(r.revs[key], rev)
	return err
}

// wantValue checks key's latest value as rc sees it.
func (r *roles) wantValue(ctx context.Context, rc *roleClient, key, want string) error {
	e, err := rc.kv.Get(ctx, key)
	if err != nil {
		return err
	}
	if string(e.Value()) != want || e.Revision() != r.revs[key][len(r.revs[key])-1] {
		return fmt.Errorf("%s = %q at %d, want %q at %d", key, e.Value(), e.Revision(), want, r.revs[key][len(r.revs[key])-1])
	}
	return nil
}

// wantFirstValue checks a's first revision as rc sees it.
func (r *roles) wantFirstValue(ctx context.Context, rc *roleClient) error {
	e, err := rc.kv.GetRevision(ctx, "a", r.revs["a"][0])
	if err != nil {
		return err
	}
	if string(e.Value()) != "a1" {
		return fmt.Errorf("a at %d = %q, want a1", r.revs["a"][0], e.Value())
	}
	return nil
}

// watchA watches a as rc: the initial value, then a value the writer
// puts; Stop must delete the consumer.
func (r *roles) watchA(ctx context.Context, rc *roleClient, next string) error {
	w, err := rc.kv.Watch(ctx, "a")
	if err != nil {
		return err
	}
	var got []string
	for len(got) < 3 {
		select {
		case e := <-w.Updates():
			if e == nil {
				got = append(got, "<end of initial values>")
				if err := r.put(ctx, "a", next); err != nil {
					return err
				}
				continue
			}
			got = append(got, string(e.Value()))
		case <-ctx.Done():
			return fmt.Errorf("watch a: got %q: %w", got, ctx.Err())
		}
	}
	if got[1] != "<end of initial values>" || got[2] != next {
		return fmt.Errorf("watch a: got %q", got)
	}
	return w.Stop()
}

// watchBig watches big.> as rc until the end of the initial values, which
// take more than a flow-control window.
func watchBig(ctx context.Context, rc *roleClient) error {
	w, err := rc.kv.Watch(ctx, "big.>")
	if err != nil {
		return err
	}
	defer w.Stop()
	for n := 0; ; n++ {
		select {
		case e := <-w.Updates():
			if e == nil {
				if n != bigValues {
					return fmt.Errorf("%d values before the end of the initial ones, want %d", n, bigValues)
				}
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d values: %w", n, bigValues, ctx.Err())
		}
	}
}

// wantHistoryOfA checks that a has its first two values in its history.
func wantHistoryOfA(ctx context.Context, rc *roleClient) error {
	h, err := rc.kv.History(ctx, "a")
	if err != nil {
		return err
	}
	if len(h) < 2 || string(h[0].Value()) != "a1" || string(h[1].Value()) != "a2" {
		return fmt.Errorf("history of a: %d entries", len(h))
	}
	return nil
}

// wantKeys checks the number of keys rc lists.
func wantKeys(ctx context.Context, rc *roleClient, want int) error {
	keys, err := rc.kv.Keys(ctx)
	if err != nil {
		return err
	}
	if len(keys) != want || !slices.Contains(keys, "a") {
		return fmt.Errorf("keys %q, want %d with a", keys, want)
	}
	return nil
}

// wantHistory checks the bucket's history setting through Status.
func wantHistory(ctx context.Context, kv jetstream.KeyValue, want int64) error {
	s, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	if s.History() != want {
		return fmt.Errorf("history %d, want %d", s.History(), want)
	}
	return nil
}
