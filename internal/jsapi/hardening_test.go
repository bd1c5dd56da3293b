package jsapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Tests of issue 9's API-side hardening: paging that cannot overflow,
// sequences and durations that cannot wrap, consumer limits and
// feedback loops, resource limits. Errors are nats-server 2.15.2's,
// checked against the peer where it has them.

// consumerBus adapts fakeBus to the consumer package's Bus.
type consumerBus struct{ b *fakeBus }

func (c consumerBus) PublishAs(routeSubj, _, reply, hdr, data []byte) {
	c.b.Publish(string(routeSubj), string(reply), hdr, data)
}

func (c consumerBus) Subscribe(subj string, h func(subj, reply string, hdr, data []byte)) (func(), error) {
	return c.b.Subscribe(subj, h)
}

func (c consumerBus) HasInterest(subj string) bool {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	for pattern := range c.b.subs {
		if subject.Match(pattern, subj) {
			return true
		}
	}
	return false
}

// newTestAPI starts an API with consumers on a fresh store.
func newTestAPI(t *testing.T, opts Options) (*API, *fakeBus) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := newFakeBus()
	mgr := consumer.NewManager(consumerBus{bus}, nil)
	opts.Consumers = mgr
	a, err := New(bus, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(); a.Close(); st.Close() })
	return a, bus
}

// ask sends body to subj and returns the JSON answer.
func ask(t *testing.T, bus *fakeBus, subj, body string) string {
	t.Helper()
	reply := "_INBOX." + fmt.Sprint(time.Now().UnixNano())
	bus.Publish(subj, reply, nil, []byte(body))
	got := bus.answer(reply)
	if got == "" {
		t.Fatalf("%s %s: no answer", subj, body)
	}
	return got
}

// wantErr checks that answer carries the error err_code with text.
func wantErr(t *testing.T, answer string, code uint16, text string) {
	t.Helper()
	var r struct {
		Error *APIError `json:"error"`
	}
	if err := json.Unmarshal([]byte(answer), &r); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	if r.Error == nil || r.Error.ErrCode != code || !strings.Contains(r.Error.Description, text) {
		t.Fatalf("answer %s, want err_code %d with %q", answer, code, text)
	}
}

// wantOK checks that answer carries no error.
func wantOK(t *testing.T, answer string) {
	t.Helper()
	if strings.Contains(answer, `"error"`) {
		t.Fatalf("unexpected error: %s", answer)
	}
}

func createStream(t *testing.T, bus *fakeBus, cfg string) {
	t.Helper()
	var c struct{ Name string }
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatal(err)
	}
	wantOK(t, ask(t, bus, "$JS.API.STREAM.CREATE."+c.Name, cfg))
}

func createConsumer(bus *fakeBus, t *testing.T, stream, cfg string) string {
	t.Helper()
	return ask(t, bus, "$JS.API.CONSUMER.CREATE."+stream, `{"stream_name":"`+stream+`","config":`+cfg+`}`)
}

// A huge offset used to crash the server: offset+limit wrapped negative
// and the slice bounds panicked. Offsets are clamped to the list, as
// nats-server does.
func TestPagingOffsetsNeverOverflow(t *testing.T) {
	_, bus := newTestAPI(t, Options{})
	createStream(t, bus, `{"name":"S","subjects":["s.>"]}`)
	wantOK(t, createConsumer(bus, t, "S", `{"deliver_subject":"d1"}`))
	for _, subj := range []string{"$JS.API.CONSUMER.LIST.S", "$JS.API.CONSUMER.NAMES.S", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"} {
		for _, offset := range []string{"9223372036854775807", "9223372036854775000", "-9223372036854775808", "1", "0"} {
			got := ask(t, bus, subj, `{"offset":`+offset+`}`)
			var r struct {
				apiPaged
				Error *APIError
			}
			if err := json.Unmarshal([]byte(got), &r); err != nil || r.Error != nil {
				t.Fatalf("%s offset %s: %s", subj, offset, got)
			}
			if r.Offset < 0 || r.Offset > r.Total {
				t.Errorf("%s offset %s: answer offset %d of %d", subj, offset, r.Offset, r.Total)
			}
		}
	}
	if got := ask(t, bus, "$JS.API.CONSUMER.NAMES.S", `{"offset":99999999999999999999}`); !strings.Contains(got, `"err_code":10025`) {
		t.Errorf("offset beyond int64: %s", got)
	}
}

func TestPage(t *testing.T) {
	for _, tt := range []struct{ total, offset, limit, lo, hi int }{
		{0, 0, 10, 0, 0},
		{5, 0, 10, 0, 5},
		{25, 10, 10, 10, 20},
		{25, 20, 10, 20, 25},
		{25, 30, 10, 25, 25},
		{25, -3, 10, 0, 10},
		{25, math.MaxInt, 10, 25, 25},
		{25, math.MaxInt - 5, math.MaxInt, 25, 25},
	} {
		if lo, hi := page(tt.total, tt.offset, tt.limit); lo != tt.lo || hi != tt.hi {
			t.Errorf("page(%d, %d, %d) = %d, %d; want %d, %d", tt.total, tt.offset, tt.limit, lo, hi, tt.lo, tt.hi)
		}
	}
}

// A purge beyond the last sequence moves the stream forward as in
// nats-server, but only as far as leaves room for new sequences.
func TestPurgeSequenceBounds(t *testing.T) {
	_, bus := newTestAPI(t, Options{})
	createStream(t, bus, `{"name":"P","subjects":["p.>"]}`)
	for range 3 {
		bus.Publish("p.x", "", nil, []byte("v"))
	}
	for _, seq := range []string{"18446744073709551615", "9223372036854775808"} {
		wantErr(t, ask(t, bus, "$JS.API.STREAM.PURGE.P", `{"seq":`+seq+`}`), 10051, "leaves no room")
	}
	// Nothing was purged by the refusals.
	if got := ask(t, bus, "$JS.API.STREAM.INFO.P", ""); !strings.Contains(got, `"messages":3`) {
		t.Fatalf("after refused purges: %s", got)
	}
	// With a filter, the sequence only bounds what is purged.
	wantOK(t, ask(t, bus, "$JS.API.STREAM.PURGE.P", `{"filter":"p.x","seq":18446744073709551615}`))
	got := ask(t, bus, "$JS.API.STREAM.PURGE.P", `{"seq":10}`)
	wantOK(t, got)
	bus.Publish("p.y", "_INBOX.ack", nil, []byte("v"))
	if got := bus.answer("_INBOX.ack"); got != `{"stream":"P","seq":10}` {
		t.Fatalf("ack after purge to 10: %s", got)
	}
	// The largest purge allowed leaves one sequence; the append after it
	// is refused rather than wrapping to 0.
	wantOK(t, ask(t, bus, "$JS.API.STREAM.PURGE.P", `{"seq":9223372036854775807}`))
	bus.Publish("p.y", "_INBOX.last", nil, []byte("v"))
	if got := bus.answer("_INBOX.last"); got != `{"stream":"P","seq":9223372036854775807}` {
		t.Fatalf("ack at the last sequence: %s", got)
	}
	bus.Publish("p.y", "_INBOX.over", nil, []byte("v"))
	want := `{"error":{"code":503,"err_code":10077,"description":"stream sequence exhausted: no sequence after 9223372036854775807"},"stream":"P","seq":0}`
	if got := bus.answer("_INBOX.over"); got != want {
		t.Fatalf("ack beyond the last sequence: %s", got)
	}
}

func TestParseTTLBounds(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"never", -1, true},
		{"NEVER", -1, true},
		{"5s", 5 * time.Second, true},
		{"1500ms", time.Second, true},
		{"10", 10 * time.Second, true},
		{"0", 0, false}, // time.ParseDuration reads it, as in nats-server
		{"500ms", 0, false},
		{"-1", 0, false},
		{"-5s", 0, false},
		{"+5", 0, false},
		{"", 0, false},
		{"1e3", 0, false},
		{"9223372036854775807", maxDeadlineDuration, true},
		{"99999999999999999999999", maxDeadlineDuration, true},
		{"9223372036", maxDeadlineDuration, true},
		{"2562047h", maxDeadlineDuration, true},
		{"99999999999h", 0, false},
	} {
		got, ok := parseTTL(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTTL(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// Durations nats-server accepts up to math.MaxInt64 reach the store
// clamped, so that no expiry deadline can wrap.
func TestStoreDurationsClamped(t *testing.T) {
	a, bus := newTestAPI(t, Options{})
	createStream(t, bus, `{"name":"D","subjects":["d"],"max_age":9223372036854775807,"duplicate_window":9223372036854775807,"subject_delete_marker_ttl":9223372036854775807}`)
	s := a.lookup("D")
	if got := s.config().MaxAge; got != math.MaxInt64 {
		t.Errorf("configured max_age = %v, want it kept as given", got)
	}
	sc := s.st.Config()
	if sc.MaxAge != maxDeadlineDuration || sc.DuplicateWindow != maxDeadlineDuration || sc.SubjectDeleteMarkerTTL != maxDeadlineDuration {
		t.Errorf("store config %+v not clamped", sc)
	}
	// A message with the longest TTL is stored.
	bus.Publish("d", "_INBOX.ttl", []byte("NATS/1.0\r\nNats-TTL: 9223372036854775807\r\n\r\n"), []byte("v"))
	if got := bus.answer("_INBOX.ttl"); got != `{"stream":"D","seq":1}` {
		t.Errorf("huge TTL: %s", got)
	}
}

// A TTL raised to the subject delete marker TTL is raised to the
// clamped one: the configured value may be math.MaxInt64.
func TestTTLRaisedToClampedMarkerTTL(t *testing.T) {
	cfg := &StreamConfig{SubjectDeleteMarkerTTL: math.MaxInt64, AllowMsgTTL: true, MaxMsgsPer: -1}
	hdr := []byte("NATS/1.0\r\nNats-TTL: 5s\r\n\r\n")
	ttl, out, e := ttlOpt(cfg, parsePubHeaders(hdr), hdr)
	if e != nil || ttl != maxDeadlineDuration.Truncate(time.Second) {
		t.Fatalf("ttl %v, %v", ttl, e)
	}
	if want := fmt.Sprintf("Nats-TTL: %d\r\n", int64(maxDeadlineDuration/time.Second)); !strings.Contains(string(out), want) {
		t.Fatalf("header %q lacks %q", out, want)
	}
}

// A deliver subject on the stream's own subjects would re-ingest every
// delivery forever.
func TestConsumerDeliverCycleRefused(t *testing.T) {
	_, bus := newTestAPI(t, Options{})
	createStream(t, bus, `{"name":"C","subjects":["c.>","lit"]}`)
	for _, deliver := range []string{"c.x", "c.x.y", "lit"} {
		wantErr(t, createConsumer(bus, t, "C", `{"deliver_subject":"`+deliver+`"}`), 10081, "consumer deliver subject forms a cycle")
	}
	wantOK(t, createConsumer(bus, t, "C", `{"deliver_subject":"c"}`))
	// Nor may an update capture an existing consumer's deliver subject.
	wantErr(t, ask(t, bus, "$JS.API.STREAM.UPDATE.C", `{"name":"C","subjects":["c.>","lit","c"]}`), 10081, "consumer deliver subject forms a cycle")
	wantOK(t, ask(t, bus, "$JS.API.STREAM.UPDATE.C", `{"name":"C","subjects":["c.>","lit","d"]}`))
}

func TestConsumerLimits(t *testing.T) {
	_, bus := newTestAPI(t, Options{MaxConsumers: 3})
	createStream(t, bus, `{"name":"A","subjects":["a"],"max_consumers":1}`)
	createStream(t, bus, `{"name":"B","subjects":["b"]}`)
	wantOK(t, createConsumer(bus, t, "A", `{"name":"one","deliver_subject":"d.a1"}`))
	// The same consumer again is no new consumer.
	wantOK(t, createConsumer(bus, t, "A", `{"name":"one","deliver_subject":"d.a1"}`))
	wantErr(t, createConsumer(bus, t, "A", `{"deliver_subject":"d.a2"}`), 10026, "maximum consumers limit reached")
	wantOK(t, createConsumer(bus, t, "B", `{"deliver_subject":"d.b1"}`))
	wantOK(t, createConsumer(bus, t, "B", `{"deliver_subject":"d.b2"}`))
	wantErr(t, createConsumer(bus, t, "B", `{"deliver_subject":"d.b3"}`), 10026, "maximum consumers limit reached")
	// A stream may not ask for more consumers than the server allows.
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["c"],"max_consumers":4}`), 10026, "maximum consumers limit reached")
	got := ask(t, bus, "$JS.API.INFO", "")
	if !strings.Contains(got, `"consumers":3`) || !strings.Contains(got, `"max_consumers":3`) {
		t.Errorf("account info: %s", got)
	}
}

func TestConsumerDurations(t *testing.T) {
	_, bus := newTestAPI(t, Options{MaxInactiveThreshold: time.Minute})
	createStream(t, bus, `{"name":"T","subjects":["t"],"consumer_limits":{"inactive_threshold":30000000000}}`)
	createStream(t, bus, `{"name":"U","subjects":["u"]}`)
	wantErr(t, createConsumer(bus, t, "U", `{"deliver_subject":"x","ack_wait":-1}`), 10183, "consumer ack wait needs to be positive")
	wantErr(t, createConsumer(bus, t, "U", `{"deliver_subject":"x","backoff":[1000000000,-1]}`), 10184, "consumer backoff needs to be positive")
	wantErr(t, createConsumer(bus, t, "T", `{"deliver_subject":"x","inactive_threshold":40000000000}`), 10153,
		"consumer inactive threshold exceeds system limit of 30s")
	for _, tt := range []struct {
		stream, cfg             string
		heartbeat, inactiveWant time.Duration
	}{
		{"U", `{"deliver_subject":"x1","idle_heartbeat":-5,"inactive_threshold":-5}`, 0, consumer.DefaultInactiveThreshold},
		{"U", `{"deliver_subject":"x2","idle_heartbeat":9223372036854775807,"inactive_threshold":9223372036854775807}`, maxDeadlineDuration, time.Minute},
		{"T", `{"deliver_subject":"x3"}`, 0, 30 * time.Second},
	} {
		got := createConsumer(bus, t, tt.stream, tt.cfg)
		var r consumerInfoResponse
		if err := json.Unmarshal([]byte(got), &r); err != nil || r.Error != nil || r.ConsumerInfo == nil {
			t.Fatalf("%s: %s", tt.cfg, got)
		}
		if r.Config.Heartbeat != tt.heartbeat || r.Config.InactiveThreshold != tt.inactiveWant {
			t.Errorf("%s: heartbeat %v, inactive %v; want %v, %v", tt.cfg, r.Config.Heartbeat, r.Config.InactiveThreshold, tt.heartbeat, tt.inactiveWant)
		}
	}
}

func TestResourceLimits(t *testing.T) {
	_, bus := newTestAPI(t, Options{MaxFileStore: 10_000, MaxMemoryStore: 2_000})
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.F", `{"name":"F","subjects":["f"],"max_bytes":10001}`), 10047, "insufficient storage resources available")
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.M", `{"name":"M","subjects":["m"],"storage":"memory","max_bytes":2001}`), 10028, "insufficient memory resources available")
	createStream(t, bus, `{"name":"F","subjects":["f"],"max_bytes":6000}`)
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.G", `{"name":"G","subjects":["g"],"max_bytes":5000}`), 10047, "insufficient storage resources available")
	createStream(t, bus, `{"name":"G","subjects":["g"],"max_bytes":4000}`)
	// Nothing is left for a stream without max_bytes (it reserves 1 byte).
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.H", `{"name":"H","subjects":["h"]}`), 10047, "insufficient storage resources available")
	// An update may keep or lower its own reservation, not exceed the rest.
	wantOK(t, ask(t, bus, "$JS.API.STREAM.UPDATE.G", `{"name":"G","subjects":["g"],"max_bytes":3000}`))
	wantErr(t, ask(t, bus, "$JS.API.STREAM.UPDATE.G", `{"name":"G","subjects":["g"],"max_bytes":4001}`), 10047, "insufficient storage resources available")
	// With room again, H fits; once G takes it back, an update of H that
	// does not raise its max_bytes is still allowed, as in nats-server.
	createStream(t, bus, `{"name":"H","subjects":["h"]}`)
	wantOK(t, ask(t, bus, "$JS.API.STREAM.UPDATE.G", `{"name":"G","subjects":["g"],"max_bytes":4000}`))
	wantOK(t, ask(t, bus, "$JS.API.STREAM.UPDATE.H", `{"name":"H","subjects":["h"],"description":"still fits"}`))
	wantErr(t, ask(t, bus, "$JS.API.STREAM.UPDATE.H", `{"name":"H","subjects":["h"],"max_bytes":1}`), 10047, "insufficient storage resources available")

	createStream(t, bus, `{"name":"M","subjects":["m"],"storage":"memory"}`)
	value := strings.Repeat("x", 900)
	var acks []string
	for i := range 4 {
		reply := fmt.Sprintf("_INBOX.m%d", i)
		bus.Publish("m", reply, nil, []byte(value))
		acks = append(acks, bus.answer(reply))
	}
	// As nats-server: the write that crosses the limit is stored, the
	// next ones are refused.
	want := []string{`{"stream":"M","seq":1}`, `{"stream":"M","seq":2}`, `{"stream":"M","seq":3}`,
		`{"error":{"code":503,"err_code":10023,"description":"insufficient resources"},"stream":"M","seq":0}`}
	for i := range want {
		if acks[i] != want[i] {
			t.Errorf("publish %d: %s, want %s", i, acks[i], want[i])
		}
	}
	got := ask(t, bus, "$JS.API.INFO", "")
	for _, w := range []string{`"max_memory":2000`, `"max_storage":10000`, `"reserved_storage":10000`} {
		if !strings.Contains(got, w) {
			t.Errorf("account info lacks %s: %s", w, got)
		}
	}
}

// Concurrent creations cannot pass the limits together: each reserves
// its place before the (unlocked) creation.
func TestConsumerLimitsUnderConcurrency(t *testing.T) {
	a, bus := newTestAPI(t, Options{MaxConsumers: 5})
	createStream(t, bus, `{"name":"A","subjects":["a"],"max_consumers":3}`)
	createStream(t, bus, `{"name":"B","subjects":["b"]}`)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := []string{"A", "B"}[i%2]
			body := fmt.Sprintf(`{"stream_name":%q,"config":{"deliver_subject":"d.%d","inactive_threshold":60000000000}}`, stream, i)
			bus.Publish("$JS.API.CONSUMER.CREATE."+stream, fmt.Sprintf("_INBOX.c%d", i), nil, []byte(body))
		}()
	}
	wg.Wait()
	ok := 0
	for i := range 20 {
		if got := bus.answer(fmt.Sprintf("_INBOX.c%d", i)); !strings.Contains(got, `"error"`) {
			ok++
		} else if !strings.Contains(got, "10026") {
			t.Errorf("creation %d: %s", i, got)
		}
	}
	if n := a.consumerCount(); ok != 5 || n != 5 || a.consumers.Count("A") > 3 {
		t.Fatalf("%d creations succeeded, %d consumers (%d on A); want 5 and at most 3 on A", ok, n, a.consumers.Count("A"))
	}
}
