package jsfront

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		subject string
		kind    kind
		stream  string
	}{
		{"$JS.API.INFO", kindGather, ""},
		{"$JS.API.STREAM.NAMES", kindGather, ""},
		{"$JS.API.STREAM.LIST", kindGather, ""},
		{"$JS.API.STREAM.CREATE.S", kindPlace, "S"},
		{"$JS.API.STREAM.RESTORE.S", kindPlace, "S"},
		{"$JS.API.STREAM.INFO.S", kindStream, "S"},
		{"$JS.API.STREAM.UPDATE.S", kindStream, "S"},
		{"$JS.API.STREAM.DELETE.S", kindStream, "S"},
		{"$JS.API.STREAM.PURGE.S", kindStream, "S"},
		{"$JS.API.STREAM.SNAPSHOT.S", kindStream, "S"},
		{"$JS.API.STREAM.MSG.GET.S", kindStream, "S"},
		{"$JS.API.STREAM.MSG.DELETE.S", kindStream, "S"},
		{"$JS.API.CONSUMER.CREATE.S", kindStream, "S"},
		{"$JS.API.CONSUMER.CREATE.S.C", kindStream, "S"},
		{"$JS.API.CONSUMER.CREATE.S.C.orders.>", kindStream, "S"},
		{"$JS.API.CONSUMER.DURABLE.CREATE.S.D", kindStream, "S"},
		{"$JS.API.CONSUMER.INFO.S.C", kindStream, "S"},
		{"$JS.API.CONSUMER.DELETE.S.C", kindStream, "S"},
		{"$JS.API.CONSUMER.NAMES.S", kindStream, "S"},
		{"$JS.API.CONSUMER.LIST.S", kindStream, "S"},
		// Streams named as API tokens.
		{"$JS.API.STREAM.INFO.INFO", kindStream, "INFO"},
		{"$JS.API.STREAM.CREATE.MSG", kindPlace, "MSG"},
		{"$JS.API.CONSUMER.CREATE.DURABLE", kindStream, "DURABLE"},
		// Unknown or malformed: answered here, as a server alone does.
		{"$JS.API.INFO.X", kindLocal, ""},
		{"$JS.API.STREAM.NAMES.X", kindLocal, ""},
		{"$JS.API.STREAM.INFO", kindLocal, ""},
		{"$JS.API.STREAM.INFO.S.X", kindLocal, ""},
		{"$JS.API.STREAM.CREATE.S.X", kindLocal, ""},
		{"$JS.API.STREAM.MSG.GET", kindLocal, ""},
		{"$JS.API.STREAM.MSG.GET.S.X", kindLocal, ""},
		{"$JS.API.STREAM.MSG.NEXT.S", kindLocal, ""},
		{"$JS.API.STREAM.LEADER.STEPDOWN.S", kindStream, "S"},
		{"$JS.API.STREAM.PEER.REMOVE.S", kindStream, "S"},
		{"$JS.API.STREAM.LEADER.STEPDOWN", kindLocal, ""},
		{"$JS.API.STREAM.PEER.REMOVE.S.X", kindLocal, ""},
		{"$JS.API.STREAM.LEADER.REMOVE.S", kindLocal, ""},
		{"$JS.API.META.LEADER.STEPDOWN", kindMeta, ""},
		{"$JS.API.META.LEADER.STEPDOWN.X", kindLocal, ""},
		{"$JS.API.STREAM.TEMPLATE.CREATE.T", kindLocal, ""},
		{"$JS.API.CONSUMER.DURABLE.CREATE", kindLocal, ""},
		{"$JS.API.CONSUMER.MSG.NEXT.S.C", kindLocal, ""},
		{"$JS.API.CONSUMER.PAUSE.S.C", kindLocal, ""},
		{"$JS.API.CONSUMER.CREATE", kindLocal, ""},
		{"$JS.API.DIRECT.GET.S", kindLocal, ""},
		{"$JS.API.ACCOUNT.PURGE.A", kindLocal, ""},
		{"$JS.API", kindLocal, ""},
		{"$JS.API.", kindLocal, ""},
		{"$JS.APIX.INFO", kindLocal, ""},
		{"$js.api.INFO", kindLocal, ""},
		{"$JS.API.stream.info.S", kindLocal, ""},
		{"$KV.cfg.k", kindLocal, ""},
		{"", kindLocal, ""},
		// Odd tokens pass through; the local API (whose subscriptions
		// they do not match, or whose validation refuses them) decides.
		{"$JS.API.STREAM.INFO.", kindStream, ""},
		{"$JS.API.CONSUMER.CREATE..C", kindStream, ""},
		{"$JS.API.STREAM.INFO.*", kindStream, "*"},
		{"$JS.API.CONSUMER.INFO.>", kindStream, ">"},
	} {
		k, s := classify(tc.subject)
		if k != tc.kind || s != tc.stream {
			t.Errorf("classify(%q) = %v %q, want %v %q", tc.subject, k, s, tc.kind, tc.stream)
		}
	}
}

func TestRouteLocal(t *testing.T) {
	caller := &fakeCaller{}
	for _, tc := range []struct {
		name, subject, reply string
		setup                func(r *rig)
	}{
		{"held here", "$JS.API.STREAM.INFO.S", "_INBOX.1", func(r *rig) { r.meta.set("A", "S", "n1") }},
		{"held nowhere", "$JS.API.STREAM.INFO.S", "_INBOX.1", nil},
		{"consumer held here", "$JS.API.CONSUMER.CREATE.S.C.f", "_INBOX.1", func(r *rig) { r.meta.set("A", "S", "n1") }},
		{"not routed", "$JS.API.CONSUMER.PAUSE.S.C", "_INBOX.1", func(r *rig) { r.meta.set("A", "S", "n2") }},
		{"no reply", "$JS.API.STREAM.INFO.S", "", func(r *rig) { r.meta.set("A", "S", "n2") }},
		{"no reply, create", "$JS.API.STREAM.CREATE.S", "", nil},
		{"no reply, gather", "$JS.API.STREAM.NAMES", "", nil},
		{"front's own inbox", "$JS.API.STREAM.NAMES", "", nil}, // a gathering's question to this node; reply set below
		{"create, placed here", "$JS.API.STREAM.CREATE.S", "_INBOX.1", func(r *rig) { r.meta.set("A", "S", "n1") }},
		{"closed", "$JS.API.STREAM.INFO.S", "_INBOX.1", func(r *rig) { r.meta.set("A", "S", "n2"); r.f.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			if tc.setup != nil {
				tc.setup(r)
			}
			hdr := []byte("NATS/1.0\r\nX: y\r\n\r\n")
			q, ch := req(tc.subject, tc.reply, hdr, []byte(`{}`), caller)
			if strings.HasPrefix(tc.name, "front's own inbox") {
				q.reply = r.f.InboxPrefix() + "7"
			}
			r.f.route(q)
			got := waitLocal(t, ch)
			if got.caller != jsapi.Caller(caller) {
				t.Errorf("local handler got caller %#v, want the requester", got.caller)
			}
			if string(got.hdr) != string(hdr) {
				t.Errorf("local handler got header %q", got.hdr)
			}
			if s := r.net.sent(); len(s) != 0 {
				t.Errorf("sent to peers: %+v", s)
			}
			r.meta.mu.Lock()
			places := len(r.meta.places)
			r.meta.mu.Unlock()
			if places != 0 {
				t.Errorf("%d placements", places)
			}
		})
	}
}

func TestRouteRemoteHolder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		subject string
		data    string
		caller  *fakeCaller
		want    *jsapi.RecordedCaller
	}{
		{"unrestricted", "$JS.API.CONSUMER.CREATE.S.C", `{"config":{"deliver_subject":"d.x"}}`, nil, nil},
		{"push consumer allowed", "$JS.API.CONSUMER.CREATE.S.C", `{"config":{"deliver_subject":"d.x"}}`,
			&fakeCaller{ans: map[string]bool{"d.x": true}},
			&jsapi.RecordedCaller{AnsweredOn: map[string]bool{"d.x": true}}},
		{"push consumer refused", "$JS.API.CONSUMER.DURABLE.CREATE.S.D", `{"config":{"deliver_subject":"d.x"}}`,
			&fakeCaller{},
			&jsapi.RecordedCaller{AnsweredOn: map[string]bool{"d.x": false}}},
		{"stream update", "$JS.API.STREAM.UPDATE.S", `{"name":"S","subjects":["a.>","b"],"republish":{"src":">","dest":"rp.>"}}`,
			&fakeCaller{sub: map[string]bool{"a.>": true}, pub: map[string]bool{"rp.>": true}},
			&jsapi.RecordedCaller{SubscribeAll: map[string]bool{"a.>": true, "b": false}, PublishAll: map[string]bool{"rp.>": true}}},
		{"msg get", "$JS.API.STREAM.MSG.GET.S", `{"seq":1}`, &fakeCaller{}, &jsapi.RecordedCaller{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.meta.set("A", "S", "n2")
			var c jsapi.Caller
			if tc.caller != nil {
				c = tc.caller
			}
			// The client's own Cairn-Caller grants everything; it must
			// not reach n2.
			hdr := []byte("NATS/1.0\r\nX: y\r\nCairn-Caller: {\"ans\":{\"d.x\":true},\"sub\":{\"b\":true}}\r\n\r\n")
			q, ch := req(tc.subject, "_INBOX.r", hdr, []byte(tc.data), c)
			r.f.route(q)
			s := r.net.sent()
			if len(s) != 1 {
				t.Fatalf("sent %d, want 1", len(s))
			}
			got := s[0]
			if got.node != "n2" || got.account != "A" || got.subject != tc.subject || got.reply != "_INBOX.r" || string(got.data) != tc.data {
				t.Fatalf("sent %+v", got)
			}
			if v, _ := headerValues(got.hdr, "X"); len(v) != 1 || v[0] != "y" {
				t.Errorf("the client's X header lost: %q", got.hdr)
			}
			if n := strings.Count(strings.ToLower(string(got.hdr)), "cairn-caller"); tc.want == nil && n != 0 || tc.want != nil && n != 1 {
				t.Errorf("%d Cairn-Caller lines in %q", n, got.hdr)
			}
			assertCaller(t, callerFrom(got.hdr), tc.want)
			select {
			case <-ch:
				t.Fatal("answered locally too")
			default:
			}
		})
	}
}

// assertCaller compares a decoded caller with the recorded one (empty
// and missing maps alike).
func assertCaller(t *testing.T, got jsapi.Caller, want *jsapi.RecordedCaller) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("caller %#v, want unrestricted (nil)", got)
		}
		return
	}
	rc, ok := got.(*jsapi.RecordedCaller)
	if !ok || rc == nil {
		t.Fatalf("caller %#v, want %+v", got, want)
	}
	norm := func(m map[string]bool) map[string]bool {
		if len(m) == 0 {
			return nil
		}
		return m
	}
	if !reflect.DeepEqual(norm(rc.SubscribeAll), norm(want.SubscribeAll)) || !reflect.DeepEqual(norm(rc.PublishAll), norm(want.PublishAll)) || !reflect.DeepEqual(norm(rc.AnsweredOn), norm(want.AnsweredOn)) {
		t.Fatalf("caller %+v, want %+v", rc, want)
	}
}

// headerValues returns the values of key in hdr (exact key).
func headerValues(hdr []byte, key string) ([]string, bool) {
	var out []string
	for _, l := range strings.Split(string(hdr), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out, len(out) > 0
}

func TestRouteHolderUnreachable(t *testing.T) {
	for _, tc := range []struct {
		subject, typ string
		code         int
		errCode      uint16
	}{
		{"$JS.API.STREAM.INFO.S", "io.nats.jetstream.api.v1.stream_info_response", 500, 10118},
		{"$JS.API.STREAM.DELETE.S", "io.nats.jetstream.api.v1.stream_delete_response", 503, 10008},
		{"$JS.API.STREAM.MSG.GET.S", "io.nats.jetstream.api.v1.stream_msg_get_response", 503, 10008},
		{"$JS.API.CONSUMER.CREATE.S.C", "io.nats.jetstream.api.v1.consumer_create_response", 503, 10008},
		{"$JS.API.CONSUMER.INFO.S.C", "io.nats.jetstream.api.v1.consumer_info_response", 503, 10008},
		{"$JS.API.STREAM.CREATE.S", "io.nats.jetstream.api.v1.stream_create_response", 503, 10008},
	} {
		t.Run(tc.subject, func(t *testing.T) {
			r := newRig(t, nil)
			r.meta.set("A", "S", "n2")
			r.net.down["n2"] = true
			q, ch := req(tc.subject, "_INBOX.r", nil, []byte(`{}`), nil)
			r.f.route(q)
			a := r.answerTo(t)
			if a.subject != "_INBOX.r" || a.account != "A" {
				t.Fatalf("answered %+v", a)
			}
			typ, e := apiErr(t, a.data)
			if typ != tc.typ || e == nil || e.Code != tc.code || e.ErrCode != tc.errCode {
				t.Fatalf("answer %s", a.data)
			}
			select {
			case <-ch:
				t.Fatal("answered locally too")
			default:
			}
		})
	}
}

// TestForwardedHeaderRawClient: whatever header block a client sends
// (nats-server does not check its framing), the header forwarded to the
// holder carries exactly the recorded caller. A block without its
// closing empty line used to glue the Cairn-Caller line to the client's
// last line, so that the holder found no caller and treated the
// restricted client as unrestricted.
func TestForwardedHeaderRawClient(t *testing.T) {
	want := &jsapi.RecordedCaller{AnsweredOn: map[string]bool{"d.x": false}}
	for _, hdr := range []string{
		"", "NATS/1.0\r\n\r\n", "NATS/1.0\r\n", "NATS/1.0", "NATS/1.0\r", "NATS/1.0\n",
		"NATS/1.0\r\nX: y", "NATS/1.0\r\nX: y\r\n", "NATS/1.0 503\r\n\r\n",
		"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d.x\":true}}", "NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d.x\":true}}\r\n",
		"\r\n", "\r\n\r\n\r\n", "garbage",
	} {
		r := newRig(t, nil)
		r.meta.set("A", "S", "n2")
		q, _ := req("$JS.API.CONSUMER.CREATE.S.C", "_INBOX.r", []byte(hdr), []byte(`{"config":{"deliver_subject":"d.x"}}`), &fakeCaller{})
		r.f.route(q)
		s := r.net.sent()
		if len(s) != 1 {
			t.Fatalf("%q: sent %d", hdr, len(s))
		}
		got := callerFrom(s[0].hdr)
		rc, ok := got.(*jsapi.RecordedCaller)
		if !ok || rc == nil || rc.AnsweredOn["d.x"] || len(rc.AnsweredOn) != 1 {
			t.Errorf("client header %q: forwarded %q, holder sees caller %#v, want %+v", hdr, s[0].hdr, got, want)
		}
	}
}

func TestPlacement(t *testing.T) {
	t.Run("least loaded", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.load = map[string]int{"n1": 3, "n2": 1, "n3": 2, "n9": 0} // n9 is not connected
		q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{"name":"S"}`), nil)
		r.f.route(q)
		waitFor(t, "forwarded", func() bool { return len(r.net.sent()) == 1 })
		r.meta.mu.Lock()
		p := r.meta.places
		r.meta.mu.Unlock()
		if len(p) != 1 || p[0].node != "n2" || p[0].account != "A" || p[0].stream != "S" || string(p[0].cfg) != `{"name":"S"}` {
			t.Fatalf("placements %+v", p)
		}
		if s := r.net.sent()[0]; s.node != "n2" || s.subject != "$JS.API.STREAM.CREATE.S" {
			t.Fatalf("sent %+v", s)
		}
	})
	t.Run("ties spread", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.load = map[string]int{"n1": 1, "n2": 0, "n3": 0}
		seen := map[string]int{}
		for range 200 {
			seen[r.f.choose()]++
		}
		if seen["n1"] != 0 || seen["n2"] < 30 || seen["n3"] < 30 {
			t.Fatalf("choices %v", seen)
		}
		r.meta.load = map[string]int{}
		clear(seen)
		for range 300 {
			seen[r.f.choose()]++
		}
		if seen["n1"] < 30 || seen["n2"] < 30 || seen["n3"] < 30 {
			t.Fatalf("choices among three idle nodes %v", seen)
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		r := newRig(t, nil)
		r.net.peers = nil
		q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{nope`), nil)
		r.f.route(q)
		waitLocal(t, ch)
		r.meta.mu.Lock()
		defer r.meta.mu.Unlock()
		if len(r.meta.places) != 1 || r.meta.places[0].cfg != nil || r.meta.places[0].node != "n1" {
			t.Fatalf("placements %+v", r.meta.places)
		}
	})
	t.Run("error", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.placeFn = func(context.Context, string, string, string) (string, error) { return "", errors.New("no quorum") }
		q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{"name":"S"}`), nil)
		r.f.route(q)
		a := r.answerTo(t)
		typ, e := apiErr(t, a.data)
		if a.subject != "_INBOX.r" || typ != "io.nats.jetstream.api.v1.stream_create_response" || e == nil || e.ErrCode != 10008 || e.Code != 503 {
			t.Fatalf("answer %+v %s", a, a.data)
		}
		select {
		case <-ch:
			t.Fatal("answered locally too")
		default:
		}
	})
	t.Run("timeout bounds the placement", func(t *testing.T) {
		r := newRig(t, func(o *Options) { o.Timeout = 50 * time.Millisecond })
		r.meta.placeFn = func(ctx context.Context, _, _, _ string) (string, error) { <-ctx.Done(); return "", ctx.Err() }
		q, _ := req("$JS.API.STREAM.RESTORE.S", "_INBOX.r", nil, []byte(`{}`), nil)
		r.f.route(q)
		if _, e := apiErr(t, r.answerTo(t).data); e == nil || e.ErrCode != 10008 {
			t.Fatalf("error %+v", e)
		}
	})
	t.Run("won by another node", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.placeFn = func(context.Context, string, string, string) (string, error) { return "n3", nil }
		caller := &fakeCaller{sub: map[string]bool{"a": true}}
		data := []byte(`{"name":"S","subjects":["a","b"]}`)
		q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", []byte("NATS/1.0\r\nCairn-Caller: {}\r\n\r\n"), data, caller)
		r.f.route(q)
		data[0] = 'X' // the caller's buffers are reused once route returns
		waitFor(t, "forwarded", func() bool { return len(r.net.sent()) == 1 })
		s := r.net.sent()[0]
		if s.node != "n3" || string(s.data) != `{"name":"S","subjects":["a","b"]}` {
			t.Fatalf("sent %+v", s)
		}
		assertCaller(t, callerFrom(s.hdr), &jsapi.RecordedCaller{SubscribeAll: map[string]bool{"a": true, "b": false}})
		select {
		case <-ch:
			t.Fatal("answered locally too")
		default:
		}
	})
	t.Run("won here", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.load = map[string]int{"n2": 1, "n3": 1}
		caller := &fakeCaller{sub: map[string]bool{"a": true}}
		q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{"name":"S","subjects":["a"]}`), caller)
		r.f.route(q)
		got := waitLocal(t, ch)
		// The live requester may only be asked during the call: the
		// placement's goroutine hands the handler recorded answers.
		assertCaller(t, got.caller, &jsapi.RecordedCaller{SubscribeAll: map[string]bool{"a": true}})
		if len(r.net.sent()) != 0 {
			t.Fatal("sent to a peer")
		}
	})
	t.Run("already placed", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.set("A", "S", "n2")
		q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(`{"name":"S"}`), nil)
		r.f.route(q)
		if s := r.net.sent(); len(s) != 1 || s[0].node != "n2" {
			t.Fatalf("sent %+v", s)
		}
		r.meta.mu.Lock()
		defer r.meta.mu.Unlock()
		if len(r.meta.places) != 0 {
			t.Fatalf("placed again: %+v", r.meta.places)
		}
	})
}

// TestMaxPending: placements and gatherings past MaxPending are
// answered "temporarily unavailable" at once; a slot freed serves the
// next one.
func TestMaxPending(t *testing.T) {
	release := make(chan struct{})
	r := newRig(t, func(o *Options) { o.MaxPending = 2 })
	r.meta.placeFn = func(ctx context.Context, _, _, node string) (string, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "n1", nil
	}
	var locals []chan localCall
	for i := range 2 {
		q, ch := req("$JS.API.STREAM.CREATE.S"+string(rune('0'+i)), "_INBOX.r", nil, []byte(`{}`), nil)
		r.f.route(q)
		locals = append(locals, ch)
	}
	// The placements' pool is full: another creation is refused.
	for _, subject := range []string{"$JS.API.STREAM.CREATE.T"} {
		q, ch := req(subject, "_INBOX.full", nil, nil, nil)
		r.f.route(q)
		a := r.answerTo(t)
		typ, e := apiErr(t, a.data)
		if a.subject != "_INBOX.full" || typ != jsapi.ResponseType(subject) || e == nil || e.ErrCode != 10008 {
			t.Fatalf("%s: answer %s", subject, a.data)
		}
		select {
		case <-ch:
			t.Fatalf("%s: answered locally", subject)
		default:
		}
	}
	// Gatherings have their own pool: a full one of placements does
	// not refuse them (nor the other way round).
	r.net.mu.Lock()
	r.net.peers = nil
	r.net.mu.Unlock()
	r.local.answer = func(_, subject string, _ []byte) []byte {
		return []byte(`{"type":"io.nats.jetstream.api.v1.stream_names_response","total":0,"offset":0,"limit":1024,"streams":[]}`)
	}
	q, _ := req("$JS.API.STREAM.NAMES", "_INBOX.names", nil, nil, nil)
	r.f.route(q)
	if a := r.answerTo(t); a.subject != "_INBOX.names" || strings.Contains(string(a.data), `"error"`) {
		t.Fatalf("names while placements are full: %s", a.data)
	}
	// served's bookkeeping is dropped too when full, never blocks.
	r.local.setConfig("A", "S0", json.RawMessage(`{}`))
	r.f.served("A", "$JS.API.STREAM.CREATE.S0", "S0")
	close(release)
	for _, ch := range locals {
		waitLocal(t, ch)
	}
	q, ch := req("$JS.API.STREAM.CREATE.U", "_INBOX.r", nil, []byte(`{}`), nil)
	r.f.route(q)
	waitLocal(t, ch)
}

func TestServed(t *testing.T) {
	r := newRig(t, nil)
	cfg := json.RawMessage(`{"name":"S","subjects":["a"]}`)
	r.local.setConfig("A", "S", cfg)
	r.meta.set("A", "S", "n1")
	wait := func() {
		t.Helper()
		select {
		case <-r.meta.changed:
		case <-time.After(10 * time.Second):
			t.Fatal("metadata not updated")
		}
	}
	r.f.served("A", "$JS.API.STREAM.CREATE.S", "S")
	wait()
	r.f.served("A", "$JS.API.STREAM.UPDATE.S", "S")
	wait()
	// Not deleted (the API refused): nothing to release.
	r.f.served("A", "$JS.API.STREAM.DELETE.S", "S")
	// Nothing recorded for other requests, or without a stream.
	r.f.served("A", "$JS.API.STREAM.INFO.S", "S")
	r.f.served("A", "$JS.API.CONSUMER.CREATE.S.C", "S")
	r.f.served("A", "$JS.API.STREAM.CREATE.", "")
	// A refused creation of a stream nobody holds, or another node
	// holds: nothing to define or release.
	r.f.served("A", "$JS.API.STREAM.CREATE.T", "T")
	r.meta.set("A", "U", "n2")
	r.f.served("A", "$JS.API.STREAM.CREATE.U", "U")
	r.f.served("A", "$JS.API.STREAM.DELETE.U", "U")
	// A refused creation of a stream placed here releases it.
	r.meta.set("A", "V", "n1")
	r.f.served("A", "$JS.API.STREAM.CREATE.V", "V")
	wait()
	r.local.setConfig("A", "S", nil)
	r.f.served("A", "$JS.API.STREAM.DELETE.S", "S")
	wait()
	// Created here after its placement went: placed again, then
	// defined.
	wcfg := json.RawMessage(`{"name":"W"}`)
	r.local.setConfig("A", "W", wcfg)
	r.f.served("A", "$JS.API.STREAM.CREATE.W", "W")
	wait()
	r.f.Close()
	r.f.served("A", "$JS.API.STREAM.CREATE.W", "W") // after Close: nothing
	r.meta.mu.Lock()
	defer r.meta.mu.Unlock()
	want := []metaCall{{"A", "S", "n1", cfg}, {"A", "S", "n1", cfg}, {"A", "W", "n1", wcfg}}
	if !reflect.DeepEqual(r.meta.defines, want) {
		t.Errorf("defines %+v", r.meta.defines)
	}
	if !reflect.DeepEqual(r.meta.releases, []metaCall{{account: "A", stream: "V", node: "n1"}, {account: "A", stream: "S", node: "n1"}}) {
		t.Errorf("releases %+v", r.meta.releases)
	}
	if len(r.meta.places) != 1 || r.meta.places[0].stream != "W" || r.meta.places[0].node != "n1" || string(r.meta.places[0].cfg) != string(wcfg) {
		t.Errorf("places %+v", r.meta.places)
	}
}

// TestServedAfterRoute: the front records what its local API created
// and deleted, whichever way the request went.
func TestServedAfterRoute(t *testing.T) {
	r := newRig(t, nil)
	r.net.peers = nil
	cfg := json.RawMessage(`{"name":"S"}`)
	q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, cfg, nil)
	q.local = func(jsapi.Caller, []byte) { r.local.setConfig("A", "S", cfg) }
	r.f.route(q)
	select {
	case <-r.meta.changed:
	case <-time.After(10 * time.Second):
		t.Fatal("not defined")
	}
	q, _ = req("$JS.API.STREAM.DELETE.S", "_INBOX.r", nil, nil, nil)
	q.local = func(jsapi.Caller, []byte) { r.local.setConfig("A", "S", nil) }
	r.f.route(q)
	select {
	case <-r.meta.changed:
	case <-time.After(10 * time.Second):
		t.Fatal("not released")
	}
	r.meta.mu.Lock()
	defer r.meta.mu.Unlock()
	if len(r.meta.defines) != 1 || string(r.meta.defines[0].cfg) != string(cfg) || len(r.meta.releases) != 1 {
		t.Fatalf("defines %+v releases %+v", r.meta.defines, r.meta.releases)
	}
}

func TestReconcile(t *testing.T) {
	r := newRig(t, nil)
	r.meta.set("A", "mine", "n1")
	r.meta.set("A", "theirs", "n2")
	r.meta.placeFn = func(_ context.Context, _, stream, node string) (string, error) {
		if stream == "raced" {
			return "n3", nil
		}
		return node, nil
	}
	r.local.setConfig("A", "new", json.RawMessage(`{"name":"new"}`))
	err := r.f.Reconcile(context.Background(), "A", []string{"mine", "theirs", "new", "raced"})
	if err == nil || !strings.Contains(err.Error(), `"theirs"`) || !strings.Contains(err.Error(), `"raced"`) || strings.Contains(err.Error(), `"new"`) {
		t.Fatalf("err %v", err)
	}
	r.meta.mu.Lock()
	p := r.meta.places
	r.meta.mu.Unlock()
	if len(p) != 2 || p[0].stream != "new" || p[0].node != "n1" || string(p[0].cfg) != `{"name":"new"}` || p[1].stream != "raced" {
		t.Fatalf("placements %+v", p)
	}
	r.meta.placeFn = func(context.Context, string, string, string) (string, error) { return "", errors.New("no quorum") }
	if err := r.f.Reconcile(context.Background(), "A", []string{"other"}); err == nil || err.Error() != "no quorum" {
		t.Fatalf("err %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
