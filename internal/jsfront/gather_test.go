package jsfront

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// cluster is what each node holds, for the fake answers.
type nodeStreams map[string][]string

// pageAnswer answers STREAM.NAMES or STREAM.LIST for node from its
// streams, pageSize items per answer (smaller than the API's limits, so
// that the front has to ask for every page), honouring offset and a
// "subject" filter that keeps names starting with it.
func pageAnswer(held nodeStreams, pageSize int) func(node, subject string, data []byte) []byte {
	return func(node, subject string, data []byte) []byte {
		var body struct {
			Offset  int    `json:"offset"`
			Subject string `json:"subject"`
		}
		if err := json.Unmarshal(data, &body); err != nil {
			panic(err)
		}
		var names []string
		for _, n := range held[node] {
			if strings.HasPrefix(n, body.Subject) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		lo := min(body.Offset, len(names))
		hi := min(lo+pageSize, len(names))
		var items []any
		for _, n := range names[lo:hi] {
			if subject == "$JS.API.STREAM.LIST" {
				items = append(items, map[string]any{
					"config":  map[string]any{"name": n, "retention": "limits", "storage": "file", "discard": "old"},
					"created": "2026-01-01T00:00:00Z", "state": map[string]any{"messages": len(n)},
				})
			} else {
				items = append(items, n)
			}
		}
		b, _ := json.Marshal(map[string]any{"type": "t", "total": len(names), "offset": lo, "limit": pageSize, "streams": items})
		return b
	}
}

func infoAnswer(node, _ string, _ []byte) []byte {
	i := int(node[1] - '0')
	return fmt.Appendf(nil, `{"type":"io.nats.jetstream.api.v1.account_info_response","memory":%d,"storage":%d,"reserved_memory":0,"reserved_storage":0,"streams":%d,"consumers":%d,"limits":{"max_memory":%d,"max_storage":-1,"max_streams":-1,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":-1,"max_bytes_required":false},"api":{"level":1,"total":%d,"errors":%d}}`,
		10*i, 100*i, i, 2*i, 1000*i, 7*i, i)
}

func gatherRig(t *testing.T, answer func(node, subject string, data []byte) []byte, silent ...string) *rig {
	r := newRig(t, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	quiet := func(node string) bool { return slices.Contains(silent, node) }
	wrapped := func(node, subject string, data []byte) []byte {
		if quiet(node) {
			return nil
		}
		return answer(node, subject, data)
	}
	r.net.answer, r.local.answer = wrapped, wrapped
	return r
}

func TestGatherAccountInfo(t *testing.T) {
	r := gatherRig(t, infoAnswer)
	q, _ := req("$JS.API.INFO", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	var got struct {
		Type      string `json:"type"`
		Memory    int    `json:"memory"`
		Storage   int    `json:"storage"`
		Streams   int    `json:"streams"`
		Consumers int    `json:"consumers"`
		Limits    struct {
			MaxMemory int `json:"max_memory"`
		} `json:"limits"`
		API struct{ Level, Total, Errors int } `json:"api"`
	}
	a := r.answerTo(t)
	if err := json.Unmarshal(a.data, &got); err != nil || a.subject != "_INBOX.r" {
		t.Fatalf("%+v %v", a, err)
	}
	// n1+n2+n3; n1's limits.
	if got.Type != "io.nats.jetstream.api.v1.account_info_response" || got.Memory != 60 || got.Storage != 600 || got.Streams != 6 || got.Consumers != 12 ||
		got.Limits.MaxMemory != 1000 || got.API.Level != 1 || got.API.Total != 42 || got.API.Errors != 6 {
		t.Fatalf("merged %s", a.data)
	}
	// The peers were asked through the front's inbox.
	for _, s := range r.net.sent() {
		if !strings.HasPrefix(s.reply, r.f.InboxPrefix()) || s.subject != "$JS.API.INFO" {
			t.Fatalf("sent %+v", s)
		}
	}

	t.Run("a peer silent", func(t *testing.T) {
		r := gatherRig(t, infoAnswer, "n3")
		q, _ := req("$JS.API.INFO", "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if err := json.Unmarshal(r.answerTo(t).data, &got); err != nil || got.Streams != 3 || got.Memory != 30 {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("this node silent", func(t *testing.T) {
		r := gatherRig(t, infoAnswer, "n1")
		q, _ := req("$JS.API.INFO", "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if _, e := apiErr(t, r.answerTo(t).data); e == nil || e.ErrCode != 10008 {
			t.Fatalf("error %+v", e)
		}
	})
}

func TestGatherStreamPages(t *testing.T) {
	held := nodeStreams{"n1": {"a", "d", "g", "j"}, "n2": {"b", "e", "h"}, "n3": {"c", "f", "i", "k", "l"}}
	all := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}
	type page struct {
		Type    string            `json:"type"`
		Total   int               `json:"total"`
		Offset  int               `json:"offset"`
		Limit   int               `json:"limit"`
		Streams []json.RawMessage `json:"streams"`
		Missing []string          `json:"missing"`
		Error   json.RawMessage   `json:"error"`
	}
	ask := func(t *testing.T, r *rig, subject, body string) page {
		t.Helper()
		var data []byte
		if body != "" {
			data = []byte(body)
		}
		q, _ := req(subject, "_INBOX.r", nil, data, nil)
		r.f.route(q)
		var p page
		a := r.answerTo(t)
		if err := json.Unmarshal(a.data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Fatalf("error answer %s", a.data)
		}
		return p
	}
	names := func(p page) []string {
		var out []string
		for _, s := range p.Streams {
			var n string
			if json.Unmarshal(s, &n) != nil {
				var si struct {
					Config struct{ Name string } `json:"config"`
				}
				_ = json.Unmarshal(s, &si)
				n = si.Config.Name
			}
			out = append(out, n)
		}
		return out
	}
	for _, subject := range []string{"$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"} {
		t.Run(subject, func(t *testing.T) {
			r := gatherRig(t, pageAnswer(held, 2))
			for _, body := range []string{"", "{}", `{"offset":0}`} {
				p := ask(t, r, subject, body)
				if p.Total != 12 || p.Offset != 0 || !reflect.DeepEqual(names(p), all) || len(p.Missing) != 0 {
					t.Fatalf("body %q: %+v %v", body, p, names(p))
				}
			}
			p := ask(t, r, subject, `{"offset":5}`)
			if p.Total != 12 || p.Offset != 5 || !reflect.DeepEqual(names(p), all[5:]) {
				t.Fatalf("offset 5: %+v %v", p, names(p))
			}
			p = ask(t, r, subject, `{"offset":50}`)
			if p.Total != 12 || p.Offset != 12 || len(p.Streams) != 0 {
				t.Fatalf("offset 50: %+v", p)
			}
			p = ask(t, r, subject, `{"offset":-3}`)
			if p.Total != 12 || p.Offset != 0 {
				t.Fatalf("offset -3: %+v", p)
			}
		})
	}
	t.Run("a node not answering", func(t *testing.T) {
		r := gatherRig(t, pageAnswer(held, 2), "n3")
		for node, streams := range held {
			for _, s := range streams {
				r.meta.set("A", s, node)
			}
		}
		r.meta.set("B", "other-account", "n3")
		p := ask(t, r, "$JS.API.STREAM.LIST", "")
		if p.Total != 7 || !reflect.DeepEqual(names(p), []string{"a", "b", "d", "e", "g", "h", "j"}) || !reflect.DeepEqual(p.Missing, []string{"c", "f", "i", "k", "l"}) {
			t.Fatalf("LIST %+v %v", p, names(p))
		}
		// STREAM.NAMES lists the missing streams by name (the metadata
		// group knows them), unless filtered by subject (it cannot tell
		// which match).
		p = ask(t, r, "$JS.API.STREAM.NAMES", "")
		if p.Total != 12 || !reflect.DeepEqual(names(p), all) || len(p.Missing) != 0 {
			t.Fatalf("NAMES %+v %v", p, names(p))
		}
		p = ask(t, r, "$JS.API.STREAM.NAMES", `{"subject":"a"}`)
		if p.Total != 1 || !reflect.DeepEqual(names(p), []string{"a"}) {
			t.Fatalf("NAMES filtered %+v %v", p, names(p))
		}
	})
	t.Run("a peer answering with an error", func(t *testing.T) {
		answer := pageAnswer(held, 2)
		r := gatherRig(t, func(node, subject string, data []byte) []byte {
			if node == "n2" {
				return []byte(`{"type":"t","error":{"code":500,"description":"boom"}}`)
			}
			return answer(node, subject, data)
		})
		p := ask(t, r, "$JS.API.STREAM.NAMES", "")
		if p.Total != 9 || slices.Contains(names(p), "b") {
			t.Fatalf("%+v %v", p, names(p))
		}
	})
	t.Run("this node silent", func(t *testing.T) {
		r := gatherRig(t, pageAnswer(held, 2), "n1")
		q, _ := req("$JS.API.STREAM.LIST", "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if _, e := apiErr(t, r.answerTo(t).data); e == nil || e.ErrCode != 10008 {
			t.Fatalf("error %+v", e)
		}
	})
	t.Run("body not JSON", func(t *testing.T) {
		r := gatherRig(t, pageAnswer(held, 2))
		q, ch := req("$JS.API.STREAM.NAMES", "_INBOX.r", nil, []byte(`{x`), nil)
		r.f.route(q)
		waitLocal(t, ch)
		if len(r.net.sent()) != 0 {
			t.Fatal("asked the peers")
		}
	})
	t.Run("the client's caller header is not forwarded", func(t *testing.T) {
		r := gatherRig(t, pageAnswer(held, 2))
		q, _ := req("$JS.API.STREAM.NAMES", "_INBOX.r", []byte("NATS/1.0\r\nCairn-Caller: {}\r\nX: y\r\n\r\n"), nil, &fakeCaller{})
		r.f.route(q)
		r.answerTo(t)
		for _, s := range r.net.sent() {
			if strings.Contains(strings.ToLower(string(s.hdr)), "cairn-caller") || !strings.Contains(string(s.hdr), "X: y") {
				t.Fatalf("sent header %q", s.hdr)
			}
		}
	})
}

// TestAnswerUnknownInbox: an answer nobody waits for, and a second
// answer to one request, are dropped.
func TestAnswerUnknownInbox(t *testing.T) {
	r := newRig(t, nil)
	r.f.Answer("A", r.f.InboxPrefix()+"99", []byte("x"))
	r.f.mu.Lock()
	ch := make(chan []byte, 1)
	r.f.mu.waiting[inboxKey{"A", "in"}] = ch
	r.f.mu.Unlock()
	r.f.Answer("B", "in", []byte("another account's"))
	buf := []byte("first")
	r.f.Answer("A", "in", buf)
	buf[0] = 'X' // Answer copies
	r.f.Answer("A", "in", []byte("second"))
	if got := string(<-ch); got != "first" {
		t.Fatalf("got %q", got)
	}
}

// TestGatherSkipsUnreachablePeer: a peer the request could not be sent
// to is not waited for; the answer comes at once, without it.
func TestGatherSkipsUnreachablePeer(t *testing.T) {
	held := nodeStreams{"n1": {"a"}, "n2": {"b"}, "n3": {"c"}}
	for _, subject := range []string{"$JS.API.INFO", "$JS.API.STREAM.NAMES"} {
		r := newRig(t, func(o *Options) { o.Timeout = 3 * time.Second })
		answer := pageAnswer(held, 2)
		if subject == "$JS.API.INFO" {
			answer = infoAnswer
		}
		r.net.answer, r.local.answer = answer, answer
		r.net.down["n3"] = true
		start := time.Now()
		q, _ := req(subject, "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		a := r.answerTo(t)
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s: answered after %v, waiting for a peer it could not ask", subject, took)
		}
		if _, e := apiErr(t, a.data); e != nil {
			t.Errorf("%s: %s", subject, a.data)
		}
	}
}

// TestGatherLocalFallbackCaller: a gathering whose body the front cannot
// read hands it to the local API from its own goroutine, after the
// request's call: with the requester's recorded answers, never the
// requester itself (which may only be asked during the call).
func TestGatherLocalFallbackCaller(t *testing.T) {
	r := newRig(t, nil)
	live := &fakeCaller{}
	q, ch := req("$JS.API.STREAM.LIST", "_INBOX.r", nil, []byte(`{x`), live)
	r.f.route(q)
	got := waitLocal(t, ch)
	if got.caller == jsapi.Caller(live) || !isRecorded(got.caller) {
		t.Fatalf("local handler got caller %#v", got.caller)
	}
	// An unrestricted requester stays so.
	q, ch = req("$JS.API.STREAM.LIST", "_INBOX.r", nil, []byte(`{x`), nil)
	r.f.route(q)
	if got := waitLocal(t, ch); got.caller != nil {
		t.Fatalf("local handler got caller %#v", got.caller)
	}
}
