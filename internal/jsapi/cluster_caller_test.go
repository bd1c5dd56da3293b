package jsapi

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
)

func TestCallerQueries(t *testing.T) {
	for _, tc := range []struct {
		subject, data string
		sub, pub, ans []string
	}{
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["a.>","b"]}`, []string{"a.>", "b"}, nil, nil},
		{"$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["a"]}`, []string{"a"}, nil, nil},
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["a"],"republish":{"src":">","dest":"rp.{{wildcard(1)}}.$x.y"}}`, []string{"a"}, []string{"rp.*.*.y"}, nil},
		{"$JS.API.STREAM.UPDATE.S", `{"name":"S","republish":{"src":">","dest":"rp.>"}}`, []string{"S"}, []string{"rp.>"}, nil},
		{"$JS.API.STREAM.CREATE.KV_b", kvConfig, []string{"$KV.b.>"}, nil, nil},
		{"$JS.API.STREAM.CREATE.S", `{nope`, nil, nil, nil},
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":"a"}`, nil, nil, nil},
		{"$JS.API.STREAM.CREATE.S", ``, nil, nil, nil},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"deliver_subject":"d.x"}}`, nil, nil, []string{"d.x"}},
		{"$JS.API.CONSUMER.CREATE.S.C.f.>", `{"stream_name":"S","config":{"name":"C","deliver_subject":"d.x"}}`, nil, nil, []string{"d.x"}},
		{"$JS.API.CONSUMER.DURABLE.CREATE.S.D", `{"stream_name":"S","config":{"durable_name":"D","deliver_subject":"d.x"}}`, nil, nil, []string{"d.x"}},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{}}`, nil, nil, nil},
		{"$JS.API.CONSUMER.CREATE.S", `{"config":{"deliver_subject":""}}`, nil, nil, nil},
		{"$JS.API.CONSUMER.CREATE.S", `{x`, nil, nil, nil},
		{"$JS.API.CONSUMER.INFO.S.C", ``, nil, nil, nil},
		{"$JS.API.STREAM.SNAPSHOT.S", `{"deliver_subject":"snap.x","chunk_size":1024}`, nil, nil, []string{"snap.x"}},
		{"$JS.API.STREAM.RESTORE.S", `{"config":{"name":"S"},"deliver_subject":"r.x"}`, nil, nil, []string{"r.x"}},
		{"$JS.API.STREAM.RESTORE.S", `{"config":{"name":"S","subjects":["a"]}}`, nil, nil, nil},
		{"$JS.API.STREAM.INFO.S", `{"subjects_filter":">"}`, nil, nil, nil},
		{"$JS.API.STREAM.DELETE.S", ``, nil, nil, nil},
		{"$JS.API.STREAM.MSG.GET.S", `{"seq":1}`, nil, nil, nil},
		{"$JS.API.INFO", ``, nil, nil, nil},
		{"$JS.API.STREAM.NAMES", `{"subject":"secret.>"}`, nil, nil, nil},
		{"$KV.b.k", `{"subjects":["a"]}`, nil, nil, nil},
	} {
		sub, pub, ans := CallerQueries(tc.subject, []byte(tc.data))
		if !slices.Equal(sub, tc.sub) || !slices.Equal(pub, tc.pub) || !slices.Equal(ans, tc.ans) {
			t.Errorf("CallerQueries(%s, %s) = %q %q %q, want %q %q %q", tc.subject, tc.data, sub, pub, ans, tc.sub, tc.pub, tc.ans)
		}
	}
}

// testCaller answers from fixed sets and records every question.
type testCaller struct {
	sub, pub, ans map[string]bool
	all           bool // answer yes to everything
	mu            sync.Mutex
	asked         []string
}

func (c *testCaller) note(q string) {
	c.mu.Lock()
	c.asked = append(c.asked, q)
	c.mu.Unlock()
}

func (c *testCaller) MayBeAnsweredOn(s string) bool { c.note("ans " + s); return c.all || c.ans[s] }
func (c *testCaller) MayPublishAll(p string) bool   { c.note("pub " + p); return c.all || c.pub[p] }
func (c *testCaller) MaySubscribeAll(p string) bool { c.note("sub " + p); return c.all || c.sub[p] }

func TestRecordCaller(t *testing.T) {
	if RecordCaller(nil, "$JS.API.STREAM.CREATE.S", []byte(`{"subjects":["a"]}`)) != nil {
		t.Fatal("an unrestricted requester became restricted")
	}
	c := &testCaller{sub: map[string]bool{"a.>": true}, pub: map[string]bool{"rp.>": false}, ans: map[string]bool{"d": true}}
	rc := RecordCaller(c, "$JS.API.STREAM.CREATE.S", []byte(`{"name":"S","subjects":["a.>","b"],"republish":{"src":">","dest":"rp.>"}}`))
	want := &RecordedCaller{SubscribeAll: map[string]bool{"a.>": true, "b": false}, PublishAll: map[string]bool{"rp.>": false}, AnsweredOn: map[string]bool{}}
	if !reflect.DeepEqual(rc, want) {
		t.Fatalf("recorded %+v, want %+v", rc, want)
	}
	// The recorded caller answers as c did, and no to anything else.
	for q, ok := range map[string]bool{"a.>": true, "b": false, "a": false, ">": false} {
		if rc.MaySubscribeAll(q) != ok {
			t.Errorf("MaySubscribeAll(%q) = %v", q, !ok)
		}
	}
	if rc.MayPublishAll("rp.>") || rc.MayBeAnsweredOn("d") || rc.MayPublishAll("a.>") {
		t.Error("the recorded caller allows what it was not asked, or was refused")
	}
	// It travels as JSON.
	b, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	var back RecordedCaller
	if err := json.Unmarshal(b, &back); err != nil || !back.MaySubscribeAll("a.>") || back.MaySubscribeAll("b") || back.MayPublishAll("rp.>") {
		t.Fatalf("%s decoded as %+v (%v)", b, back, err)
	}
	// The zero value refuses everything.
	var zero RecordedCaller
	if zero.MayBeAnsweredOn("x") || zero.MayPublishAll(">") || zero.MaySubscribeAll(">") {
		t.Fatal("the zero RecordedCaller allows something")
	}
}

// callerBus is a fakeBus whose API endpoints are told the caller set
// in who.
type callerBus struct {
	*fakeBus
	mu  sync.Mutex
	who Caller
}

func (b *callerBus) SubscribeCaller(subj string, h CallerHandler) (func(), error) {
	return b.Subscribe(subj, func(s, reply string, hdr, data []byte) {
		b.mu.Lock()
		c := b.who
		b.mu.Unlock()
		h(c, s, reply, hdr, data)
	})
}

var _ CallerBus = (*callerBus)(nil)

func newCallerAPI(t *testing.T) (*API, *callerBus) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := &callerBus{fakeBus: newFakeBus()}
	mgr := consumer.NewManager(consumerBus{bus.fakeBus}, nil)
	a, err := New(bus, st, Options{Consumers: mgr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(); a.Close(); st.Close() })
	return a, bus
}

func (b *callerBus) askAs(t *testing.T, c Caller, subj, body string) string {
	t.Helper()
	b.mu.Lock()
	b.who = c
	b.mu.Unlock()
	return ask(t, b.fakeBus, subj, body)
}

// TestRecordCallerCoversHandlers: every question a handler asks is one
// CallerQueries lists, so that a RecordedCaller on the holder answers
// as the client's node would; and the holder's answer with the
// recorded caller is the one the real caller gets.
func TestRecordCallerCoversHandlers(t *testing.T) {
	setup := []struct{ subj, body string }{
		{"$JS.API.STREAM.CREATE.KV_b", kvConfig},
		{"$JS.API.STREAM.CREATE.OLD", `{"name":"OLD","subjects":["old.a"],"storage":"memory"}`},
	}
	type step struct {
		name, subj, body string
	}
	steps := []step{
		{"stream subjects", "$JS.API.STREAM.CREATE.S1", `{"name":"S1","subjects":["a.>","b"],"storage":"memory"}`},
		{"republish", "$JS.API.STREAM.CREATE.S2", `{"name":"S2","subjects":["c"],"storage":"memory","republish":{"src":">","dest":"rp.>"}}`},
		{"kv bucket", "$JS.API.STREAM.CREATE.KV_c", strings.NewReplacer(`"KV_b"`, `"KV_c"`, `$KV.b.`, `$KV.c.`).Replace(kvConfig)},
		{"update adds a subject", "$JS.API.STREAM.UPDATE.OLD", `{"name":"OLD","subjects":["old.a","old.b"],"storage":"memory"}`},
		{"push consumer", "$JS.API.CONSUMER.CREATE.KV_b.C1", `{"stream_name":"KV_b","config":{"name":"C1","deliver_subject":"d.x","ack_policy":"none"}}`},
		{"filtered push consumer", "$JS.API.CONSUMER.CREATE.KV_b.C2.$KV.b.x", `{"stream_name":"KV_b","config":{"name":"C2","deliver_subject":"d.y","ack_policy":"none","filter_subject":"$KV.b.x"}}`},
		{"default subjects", "$JS.API.STREAM.CREATE.NOSUBJ", `{"name":"NOSUBJ","storage":"memory"}`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			// The real caller, allowing everything: the handler asks
			// everything it would ask.
			_, bus := newCallerAPI(t)
			for _, s := range setup {
				if got := bus.askAs(t, nil, s.subj, s.body); strings.Contains(got, `"error"`) {
					t.Fatalf("setup %s: %s", s.subj, got)
				}
			}
			real := &testCaller{all: true}
			direct := bus.askAs(t, real, st.subj, st.body)
			sub, pub, ans := CallerQueries(st.subj, []byte(st.body))
			var listed []string
			for _, s := range sub {
				listed = append(listed, "sub "+s)
			}
			for _, p := range pub {
				listed = append(listed, "pub "+p)
			}
			for _, s := range ans {
				listed = append(listed, "ans "+s)
			}
			for _, q := range real.asked {
				if !slices.Contains(listed, q) {
					t.Fatalf("the handler asked %q, CallerQueries lists %q", q, listed)
				}
			}
			// The same request on another API with the recorded
			// answers: the same outcome.
			_, bus2 := newCallerAPI(t)
			for _, s := range setup {
				bus2.askAs(t, nil, s.subj, s.body)
			}
			viaRecord := bus2.askAs(t, RecordCaller(&testCaller{all: true}, st.subj, []byte(st.body)), st.subj, st.body)
			if errorOf(direct) != errorOf(viaRecord) || strings.Contains(direct, `"error"`) {
				t.Fatalf("direct %s\nrecorded %s", direct, viaRecord)
			}
			// And a caller allowing nothing is refused either way.
			none := &testCaller{}
			_, bus3 := newCallerAPI(t)
			_, bus4 := newCallerAPI(t)
			for _, s := range setup {
				bus3.askAs(t, nil, s.subj, s.body)
				bus4.askAs(t, nil, s.subj, s.body)
			}
			d := bus3.askAs(t, none, st.subj, st.body)
			r := bus4.askAs(t, RecordCaller(none, st.subj, []byte(st.body)), st.subj, st.body)
			if errorOf(d) != errorOf(r) {
				t.Fatalf("refused directly %s\nwith the record %s", d, r)
			}
		})
	}
}

// errorOf is an answer's error object, "" when it has none.
func errorOf(answer string) string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal([]byte(answer), &r)
	return string(r.Error)
}
