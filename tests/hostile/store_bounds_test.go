package hostile

// Hostile clients of the storage engine (internal/store): durations that
// overflowed every expiry deadline of the server, writes that grew the
// TTL heap without bound, and wildcard requests whose cost grew with the
// stream. The data structures are tested directly in internal/store
// (bounds_test.go, lookup_test.go); these tests show the same classes
// closed through the protocol.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// stCreateStream creates a stream from a JSON config, failing on an API
// error.
func stCreateStream(t *testing.T, nc *nats.Conn, name, cfg string) {
	t.Helper()
	if got := jsAsk(t, nc, "$JS.API.STREAM.CREATE."+name, cfg); jsError(t, got) != "" {
		t.Fatalf("create %s: %s", name, got)
	}
}

// stPublishAll publishes msgs through JetStream asynchronously and waits
// for every acknowledgement.
func stPublishAll(t *testing.T, js jetstream.JetStream, msgs func(i int) *nats.Msg, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := js.PublishMsgAsync(msgs(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d publishes not acknowledged", js.PublishAsyncPending())
	}
}

// TestHostileStoreHugeDurationsKeepKVTTL: streams with a max_age, a
// per-message TTL and a marker TTL of about 292 years made the expiry
// deadline wrap, and the expirer then slept for centuries: no KV TTL on
// the server expired. A KV bucket's TTL and a 1 s per-message TTL must
// still expire, and the messages with huge lifetimes must stay. (jsapi
// now also clamps such durations; the store saturates its deadlines on
// its own, see internal/store TestHugeDurationsKeepExpiry.)
func TestHostileStoreHugeDurationsKeepKVTTL(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	stCreateStream(t, nc, "AGELESS", `{"name":"AGELESS","subjects":["ageless"],"max_age":9223372036854775807}`)
	stCreateStream(t, nc, "TTLS", `{"name":"TTLS","subjects":["ttls.>"],"allow_msg_ttl":true,"subject_delete_marker_ttl":9223372036854775807}`)
	jsAsk(t, nc, "ageless", "x")
	for subj, ttl := range map[string]string{"ttls.huge": "2562047h", "ttls.short": "1s"} {
		m := nats.NewMsg(subj)
		m.Header.Set("Nats-TTL", ttl)
		if r, err := nc.RequestMsg(m, 5*time.Second); err != nil || jsError(t, string(r.Data)) != "" {
			t.Fatalf("publish with Nats-TTL %s: %v", ttl, err)
		}
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "lease", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "holder", []byte("a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the KV entry to expire", func() bool {
		_, err := kv.Get(ctx, "holder")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	eventually(t, 20*time.Second, "ttls.short to expire", func() bool {
		_, err := js.Stream(ctx, "TTLS")
		if err != nil {
			return false
		}
		r := jsAsk(t, nc, "$JS.API.STREAM.MSG.GET.TTLS", `{"last_by_subj":"ttls.short"}`)
		// Gone, or replaced by its delete marker (an empty body).
		return strings.Contains(r, `"code":404`) || strings.Contains(r, "Nats-Marker-Reason") || !strings.Contains(r, `"data"`)
	})
	for stream, subj := range map[string]string{"AGELESS": "ageless", "TTLS": "ttls.huge"} {
		r := jsAsk(t, nc, "$JS.API.STREAM.MSG.GET."+stream, `{"last_by_subj":"`+subj+`"}`)
		if jsError(t, r) != "" {
			t.Fatalf("%s expired: %s", subj, r)
		}
	}
}

// stLiveHeap returns the bytes of live heap objects after two full
// collections.
func stLiveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHostileStoreTTLOverwrites: overwriting one key 300k times with a
// one-hour Nats-TTL left one item per write in the TTL heap (16 bytes
// each, 4.7 MiB and growing with traffic) although one message is live.
// The server is in this process, so its live heap is measured directly.
func TestHostileStoreTTLOverwrites(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	stCreateStream(t, nc, "LEASES", `{"name":"LEASES","subjects":["lease.>"],"storage":"memory","allow_msg_ttl":true,"max_msgs_per_subject":1}`)
	msg := func(int) *nats.Msg {
		m := nats.NewMsg("lease.one")
		m.Header.Set("Nats-TTL", "1h")
		return m
	}
	// Warm up the client's and the server's buffers and pending-ack
	// tables to their steady size.
	stPublishAll(t, js, msg, 20_000)
	before := stLiveHeap()
	const writes = 300_000 // 4.7 MiB of heap items if each write kept one
	stPublishAll(t, js, msg, writes)
	after := stLiveHeap()
	grown := int64(after) - int64(before)
	t.Logf("live heap %+d KiB after %d overwrites", grown>>10, writes)
	if grown > 2<<20 {
		t.Fatalf("live heap grew by %d KiB after %d overwrites of one key", grown>>10, writes)
	}
	if r := jsAsk(t, nc, "$JS.API.STREAM.INFO.LEASES", ""); !strings.Contains(r, `"messages":1,`) {
		t.Fatalf("stream info %s", r)
	}
}

// stMinDuration returns the shortest of rounds runs of fn.
func stMinDuration(rounds int, fn func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for i := 0; i < rounds; i++ {
		start := time.Now()
		fn()
		best = min(best, time.Since(start))
	}
	return best
}

// TestHostileStoreWildcardRequestsBounded: wildcard requests that match
// little (the next or last message of "look.none.*", an expected last
// subject sequence over "look.g7.*") tested every message or subject of
// the stream under its lock, so their cost grew with the stream. The
// same requests on a stream 200 times larger must not cost 200 times
// more: the assertion allows 10 times, the shortest of several rounds
// on each side, so a loaded machine does not make it fail, while the
// linear scan (about 40 times with the round trips) does.
func TestHostileStoreWildcardRequestsBounded(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	sizes := map[string]int{"SMALL": 500, "LARGE": 100_000}
	for name, n := range sizes {
		prefix := strings.ToLower(name)
		stCreateStream(t, nc, name, `{"name":"`+name+`","subjects":["`+prefix+`.>"],"storage":"memory"}`)
		stPublishAll(t, js, func(i int) *nats.Msg {
			return nats.NewMsg(fmt.Sprintf("%s.g%d.k%d", prefix, i%100, i))
		}, n)
	}
	cost := func(name string) time.Duration {
		prefix := strings.ToLower(name)
		requests := []struct{ subj, body string }{
			{"$JS.API.STREAM.MSG.GET." + name, `{"next_by_subj":"` + prefix + `.none.*","seq":1}`},
			{"$JS.API.STREAM.MSG.GET." + name, `{"last_by_subj":"` + prefix + `.none.*"}`},
			{"$JS.API.STREAM.MSG.GET." + name, `{"last_by_subj":"` + prefix + `.*.k7"}`},
		}
		return stMinDuration(5, func() {
			for i := 0; i < 20; i++ {
				for _, r := range requests {
					jsAsk(t, nc, r.subj, r.body)
				}
				m := nats.NewMsg(prefix + ".g7.x")
				m.Header.Set("Nats-Expected-Last-Subject-Sequence", "1")
				m.Header.Set("Nats-Expected-Last-Subject-Sequence-Subject", prefix+".g7.*")
				if r, err := nc.RequestMsg(m, 5*time.Second); err != nil || jsError(t, string(r.Data)) == "" {
					t.Fatalf("expected-last-subject check passed or failed to answer: %v", err)
				}
			}
		})
	}
	cost("SMALL") // warm up
	small, large := cost("SMALL"), cost("LARGE")
	t.Logf("80 wildcard requests: %v on %d messages, %v on %d", small, sizes["SMALL"], large, sizes["LARGE"])
	if large > 10*small {
		t.Fatalf("wildcard requests cost %v on %d messages and %v on %d: they scan the stream",
			small, sizes["SMALL"], large, sizes["LARGE"])
	}
}

// TestHostileStoreDedupWindowSlides: a client publishing with a fresh
// Nats-Msg-Id each time through a sliding duplicate window made every
// append copy the whole id list. The structure is tested in
// internal/store (TestDedupAppendIsConstant); here the window keeps its
// meaning while it slides: ids inside it are duplicates, ids that left
// it are accepted again.
func TestHostileStoreDedupWindowSlides(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	stCreateStream(t, nc, "IDS", `{"name":"IDS","subjects":["ids"],"storage":"memory","duplicate_window":1000000000}`)
	const n = 20_000
	stPublishAll(t, js, func(i int) *nats.Msg {
		m := nats.NewMsg("ids")
		m.Header.Set("Nats-Msg-Id", fmt.Sprintf("id-%d", i))
		return m
	}, n)
	ctx := context.Background()
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: "ids", Header: nats.Header{"Nats-Msg-Id": {fmt.Sprintf("id-%d", n-1)}}})
	if err != nil || !ack.Duplicate {
		t.Fatalf("republished id inside the window: %+v, %v", ack, err)
	}
	eventually(t, 20*time.Second, "id-0 to leave the window", func() bool {
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: "ids", Header: nats.Header{"Nats-Msg-Id": {"id-0"}}})
		return err == nil && !ack.Duplicate
	})
	ack, err = js.PublishMsg(ctx, &nats.Msg{Subject: "ids", Header: nats.Header{"Nats-Msg-Id": {"id-0"}}})
	if err != nil || !ack.Duplicate {
		t.Fatalf("id-0 accepted twice inside the window: %+v, %v", ack, err)
	}
}
