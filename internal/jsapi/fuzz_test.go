package jsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Fuzz targets (run in CI with `go test -fuzz=FuzzAPIRequest
// ./internal/jsapi/` and `-fuzz=FuzzHeaders`; the seeds below and the
// corpus in testdata/fuzz run with every `go test`).

// fuzzReplyPrefix marks the reply subjects of fuzzed requests. The fuzz
// bus records every publish there instead of routing it, so a stream
// whose subjects capture it (">" with no_ack) cannot swallow an answer.
const fuzzReplyPrefix = "_FUZZ.REPLY."

// fuzzBus routes like fakeBus and records what is published to fuzz
// reply subjects.
type fuzzBus struct {
	*fakeBus
	mu      sync.Mutex
	replies map[string][][]byte
}

func (b *fuzzBus) Publish(subj, reply string, hdr, data []byte) {
	if strings.HasPrefix(subj, fuzzReplyPrefix) {
		b.mu.Lock()
		b.replies[subj] = append(b.replies[subj], append(append([]byte(nil), hdr...), data...))
		b.mu.Unlock()
		return
	}
	b.fakeBus.Publish(subj, reply, hdr, data)
}

// hasHandler reports whether a subscription matches subj.
func (b *fuzzBus) hasHandler(subj string) bool {
	b.fakeBus.mu.Lock()
	defer b.fakeBus.mu.Unlock()
	for pattern := range b.fakeBus.subs {
		if subject.Match(pattern, subj) {
			return true
		}
	}
	return false
}

// fuzzSubjects are the request subjects a fuzz input picks from; %s is
// the fuzzed stream name, %t a fuzzed tail (consumer name, subject).
var fuzzSubjects = []string{
	"$JS.API.INFO",
	"$JS.API.STREAM.CREATE.%s",
	"$JS.API.STREAM.UPDATE.%s",
	"$JS.API.STREAM.INFO.%s",
	"$JS.API.STREAM.DELETE.%s",
	"$JS.API.STREAM.NAMES",
	"$JS.API.STREAM.LIST",
	"$JS.API.STREAM.PURGE.%s",
	"$JS.API.STREAM.MSG.GET.%s",
	"$JS.API.STREAM.MSG.DELETE.%s",
	"$JS.API.DIRECT.GET.%s",
	"$JS.API.DIRECT.GET.%s.%t",
	"$JS.API.CONSUMER.CREATE.%s",
	"$JS.API.CONSUMER.CREATE.%s.%t",
	"$JS.API.CONSUMER.DURABLE.CREATE.%s.%t",
	"$JS.API.CONSUMER.INFO.%s.%t",
	"$JS.API.CONSUMER.DELETE.%s.%t",
	"$JS.API.CONSUMER.NAMES.%s",
	"$JS.API.CONSUMER.LIST.%s",
	"s.%t", // a publish into stream S: the PubAck path
}

const fuzzStreamS = `{"name":"S","subjects":["s.>"],"allow_direct":true,"allow_msg_ttl":true,"allow_rollup_hdrs":true}`

// newFuzzAPI starts an API with consumers and three streams: S (file,
// direct gets, TTLs, a few messages), KV_b (a bucket) and M (memory).
func newFuzzAPI(f *testing.F) (*API, *fuzzBus) {
	st, err := store.Open(f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	bus := &fuzzBus{fakeBus: newFakeBus(), replies: map[string][][]byte{}}
	mgr := consumer.NewManager(consumerBus{bus.fakeBus}, nil)
	a, err := New(bus, st, Options{Consumers: mgr, MaxConsumers: 64, MaxInactiveThreshold: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { mgr.Close(); a.Close(); st.Close() })
	for _, c := range []string{
		fuzzStreamS,
		kvConfig,
		`{"name":"M","subjects":["m.*"],"storage":"memory","max_consumers":2}`,
	} {
		var cfg struct{ Name string }
		_ = json.Unmarshal([]byte(c), &cfg)
		bus.Publish("$JS.API.STREAM.CREATE."+cfg.Name, fuzzReplyPrefix+"setup", nil, []byte(c))
	}
	for i := range 5 {
		bus.Publish(fmt.Sprintf("s.k%d", i%3), "", nil, []byte("v"))
	}
	return a, bus
}

// FuzzAPIRequest sends one request to a JetStream API subject picked by
// the input, with a fuzzed body and header block, and checks that it is
// answered (when anything subscribes to the subject) with a well-formed
// reply: a JSON object (an API response or PubAck) or, for direct gets,
// a message or status. It also checks that the server survives: no
// panic, no hang.
func FuzzAPIRequest(f *testing.F) {
	a, bus := newFuzzAPI(f)
	seeds := []struct {
		which      uint8
		name, tail string
		body, hdr  string
	}{
		{0, "", "", "", ""},
		{1, "X", "", `{"name":"X","subjects":["x.>"],"max_age":9223372036854775807}`, ""},
		{1, "Y", "", `{"name":"Y","subjects":["y.*","y.a"]}`, ""},
		{2, "S", "", `{"name":"S","subjects":["s.>"],"allow_direct":true,"allow_msg_ttl":true,"max_bytes":-5}`, ""},
		{3, "S", "", `{"deleted_details":true,"subjects_filter":">","offset":9223372036854775807}`, ""},
		{4, "M", "", "", ""},
		{5, "", "", `{"offset":9223372036854775807}`, ""},
		{6, "", "", `{"offset":-1,"subject":"s.*"}`, ""},
		{7, "S", "", `{"seq":18446744073709551615}`, ""},
		{7, "S", "", `{"filter":"s.k1","keep":18446744073709551615}`, ""},
		{8, "S", "", `{"seq":18446744073709551615}`, ""},
		{8, "S", "", `{"start_time":"9999-12-31T23:59:59Z","next_by_subj":"s.*"}`, ""},
		{9, "S", "", `{"seq":0}`, ""},
		{10, "S", "", `{"seq":1,"batch":2147483647,"max_bytes":-1}`, ""},
		{10, "S", "", `{"start_time":"0001-01-01T00:00:00Z","batch":3}`, ""},
		{11, "S", "s.k1", "", ""},
		{11, "S", "s.*", `{"no_hdr":true}`, "NATS/1.0\r\nNats-Required-Api-Level: 99\r\n\r\n"},
		{12, "S", "", `{"stream_name":"S","config":{"deliver_subject":"s.loop"}}`, ""},
		{12, "S", "", `{"stream_name":"S","config":{"deliver_subject":"d","inactive_threshold":9223372036854775807,"idle_heartbeat":-1,"opt_start_time":"9999-01-01T00:00:00Z","deliver_policy":"by_start_time"}}`, ""},
		{13, "S", "c1.s.k1", `{"stream_name":"S","config":{"name":"c1","deliver_subject":"d1","filter_subject":"s.k1"}}`, ""},
		{14, "S", "d", `{}`, ""},
		{15, "S", "c1", "", ""},
		{16, "S", "c1", "", ""},
		{17, "S", "", `{"offset":9223372036854775807}`, ""},
		{18, "S", "", `{"offset":9223372036854775000}`, ""},
		{19, "", "k1", "v", "NATS/1.0\r\nNats-TTL: 99999999999999999999\r\nNats-Msg-Id: a\r\n\r\n"},
		{19, "", "k2", "v", "NATS/1.0\r\nNats-Expected-Last-Sequence: 18446744073709551615\r\n\r\n"},
		{19, "", "k3", "v", "NATS/1.0 503\r\nNats-Rollup: all\r\nNats-TTL: never\r\n\r\n"},
	}
	for _, s := range seeds {
		f.Add(s.which, s.name, s.tail, []byte(s.body), []byte(s.hdr))
	}
	var n int
	f.Fuzz(func(t *testing.T, which uint8, name, tail string, body, hdr []byte) {
		pattern := fuzzSubjects[int(which)%len(fuzzSubjects)]
		subj := strings.NewReplacer("%s", name, "%t", tail).Replace(pattern)
		// The server refuses invalid subjects before any handler sees
		// them; header blocks reach handlers as the client sent them.
		if !subject.ValidLiteral(subj) {
			return
		}
		if len(hdr) == 0 {
			hdr = nil
		}
		// Keep the stream most seeds aim at, whatever earlier inputs did.
		if a.lookup("S") == nil {
			bus.Publish("$JS.API.STREAM.CREATE.S", fuzzReplyPrefix+"setup", nil, []byte(fuzzStreamS))
		}
		// A request that hangs is a failure too: the watchdog crashes
		// the worker with every goroutine's stack, and the fuzzer keeps
		// the input.
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("%s %q (hdr %q) hangs:\n%s", subj, body, hdr, buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		n++
		reply := fmt.Sprintf("%s%d", fuzzReplyPrefix, n)
		handled := bus.hasHandler(subj)
		bus.Publish(subj, reply, hdr, body)
		bus.mu.Lock()
		answers := bus.replies[reply]
		delete(bus.replies, reply)
		bus.mu.Unlock()
		if !handled {
			return
		}
		if len(answers) == 0 {
			t.Fatalf("%s %q (hdr %q): no answer", subj, body, hdr)
		}
		for _, ans := range answers {
			checkAnswer(t, subj, body, ans)
		}
	})
}

// checkAnswer asserts a reply is a JSON object or a NATS message with
// headers (direct get).
func checkAnswer(t *testing.T, subj string, body, ans []byte) {
	t.Helper()
	if bytes.HasPrefix(ans, []byte("NATS/1.0")) {
		if !strings.HasPrefix(subj, directGetPrefix) {
			t.Fatalf("%s %q: header answer %q", subj, body, ans)
		}
		return
	}
	if strings.HasPrefix(subj, directGetPrefix) {
		// A direct get of a message stored without headers and asked
		// with no_hdr is the bare payload.
		return
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(ans, &v); err != nil {
		t.Fatalf("%s %q: answer %q is not a JSON object: %v", subj, body, ans, err)
	}
	if strings.HasPrefix(subj, apiPrefix) && v["type"] == nil {
		t.Fatalf("%s %q: answer %q has no type", subj, body, ans)
	}
	if e, ok := v["error"]; ok {
		var apiErr APIError
		if err := json.Unmarshal(e, &apiErr); err != nil || apiErr.Code == 0 || apiErr.Description == "" {
			t.Fatalf("%s %q: malformed error %s", subj, body, e)
		}
	}
}

// FuzzHeaders feeds arbitrary header blocks to the header parser and
// the helpers that read and rewrite headers, checking that nothing
// panics and that what they return stays in range.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{
		"",
		"NATS/1.0\r\n\r\n",
		"NATS/1.0\r\nNats-Msg-Id: a\r\nNats-TTL: 5s\r\n\r\n",
		"NATS/1.0\r\nNats-TTL: 9223372036854775807\r\n\r\n",
		"NATS/1.0\r\nNats-TTL: -1\r\nNats-Rollup: SUB\r\n\r\n",
		"NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 18446744073709551616\r\nNats-Expected-Last-Subject-Sequence-Subject: a.*\r\n\r\n",
		"NATS/1.0 404 Not Found\r\nNats-Required-Api-Level: 99999999999999999999\r\n\r\n",
		"NATS/1.0\r\nNats-Incr: 1\r\nNats-Batch-Id: x\r\n\r\n",
		"NATS/1.0\r\nNats-TTL:\r\n",
		"NATS/1.0\r\n\nNats-TTL: 1\r\n",
		"NATS/1.0\r\nNats-TTL: 1\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		p := parsePubHeaders(hdr)
		if p.hasTTL {
			ttl, ok := parseTTL(p.ttl)
			if ok && (ttl > maxDeadlineDuration || (ttl < time.Second && ttl != 0 && ttl != -1)) {
				t.Fatalf("parseTTL(%q) = %v", p.ttl, ttl)
			}
		}
		_ = requiredAPILevelTooHigh(hdr, DefaultAPILevel)
		_ = appendHeaderBody(nil, hdr)
		if bytes.HasPrefix(hdr, []byte(hdrLine)) {
			out := replaceHeader(hdr, hdrTTL, "5")
			if !bytes.HasPrefix(out, []byte(hdrLine)) || !bytes.HasSuffix(out, []byte("Nats-TTL: 5\r\n\r\n")) {
				t.Fatalf("replaceHeader(%q) = %q", hdr, out)
			}
		}
	})
}
