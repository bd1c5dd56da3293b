package consumer

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
	"github.com/cairn-db/cairn/internal/wire"
)

// delivery is one message a consumer published.
type delivery struct {
	route, subject, reply string
	hdr, data             string
}

// fakeBus records deliveries; subscribe handlers are called on publish.
type fakeBus struct {
	mu       sync.Mutex
	got      []delivery
	interest bool
	subs     map[string]func(subj, reply string, hdr, data []byte)
	notify   chan struct{}
	// onPublish, when set, runs on the publishing goroutine after the
	// n-th message (1-based, status messages included) is recorded.
	onPublish func(n int)
}

func newFakeBus() *fakeBus {
	return &fakeBus{interest: true, subs: map[string]func(string, string, []byte, []byte){}, notify: make(chan struct{}, 1)}
}

func (b *fakeBus) PublishAs(route, subj, reply, hdr, data []byte) {
	b.mu.Lock()
	b.got = append(b.got, delivery{string(route), string(subj), string(reply), string(hdr), string(data)})
	n, hook := len(b.got), b.onPublish
	b.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

func (b *fakeBus) Subscribe(subj string, h func(subj, reply string, hdr, data []byte)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[subj] = h
	return func() {
		b.mu.Lock()
		delete(b.subs, subj)
		b.mu.Unlock()
	}, nil
}

func (b *fakeBus) HasInterest(string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.interest
}

// answer replies to a flow-control subject as a client would.
func (b *fakeBus) answer(reply string) {
	b.mu.Lock()
	var h func(string, string, []byte, []byte)
	for pattern, fn := range b.subs {
		if subject.Match(pattern, reply) {
			h = fn
		}
	}
	b.mu.Unlock()
	if h != nil {
		h(reply, "", nil, nil)
	}
}

// messages returns the deliveries that are not status messages.
func (b *fakeBus) messages() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []delivery
	for _, d := range b.got {
		if code, _ := wire.HeaderStatus([]byte(d.hdr)); code == 0 {
			out = append(out, d)
		}
	}
	return out
}

func (b *fakeBus) waitFor(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := b.messages(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d deliveries, want %d: %v", len(b.messages()), n, b.messages())
		}
		select {
		case <-b.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func openStream(t *testing.T) store.Stream {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := st.CreateStream(store.Config{Name: "KV_w", Subjects: []string{"$KV.w.>"}, Storage: store.MemoryStorage, MaxMsgsPerSubject: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t testing.TB, s store.Stream, key, value string) {
	t.Helper()
	if _, err := s.Append("$KV.w."+key, nil, []byte(value), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, s store.Stream, key string) {
	t.Helper()
	hdr := (&wire.HeaderBuilder{}).Add("KV-Operation", "DEL").Bytes()
	if _, err := s.Append("$KV.w."+key, hdr, nil, store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
}

// ack splits a $JS.ACK reply subject into stream seq, consumer seq and
// pending.
func ack(t *testing.T, reply string) (sseq, dseq, pending string) {
	t.Helper()
	tok := strings.Split(reply, ".")
	if len(tok) != 9 || tok[0] != "$JS" || tok[1] != "ACK" || tok[4] != "1" {
		t.Fatalf("bad ack subject %q", reply)
	}
	return tok[5], tok[6], tok[8]
}

func summary(t *testing.T, ds []delivery) string {
	var b strings.Builder
	for _, d := range ds {
		sseq, dseq, pending := ack(t, d.reply)
		fmt.Fprintf(&b, "%s s%s c%s p%s %q|", strings.TrimPrefix(d.subject, "$KV.w."), sseq, dseq, pending, d.data)
	}
	return b.String()
}

func TestLastPerSubjectThenLive(t *testing.T) {
	s := openStream(t)
	put(t, s, "a", "1")
	put(t, s, "b.c", "2")
	del(t, s, "a")
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	c, err := m.Create(s, Config{Name: "X", DeliverSubject: "_INBOX.w", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.>"}})
	if err != nil {
		t.Fatal(err)
	}
	// The first info is the state at creation (the create response),
	// whatever was delivered meanwhile.
	if info := c.Info(); info.Delivered.Consumer != 0 || info.Delivered.Stream != 3 || info.NumPending != 2 {
		t.Fatalf("info at creation %+v", info)
	}
	got := bus.waitFor(t, 2)
	if want := `b.c s2 c1 p1 "2"|a s3 c2 p0 ""|`; summary(t, got) != want {
		t.Fatalf("got  %s\nwant %s", summary(t, got), want)
	}
	if got[1].route != "_INBOX.w" || !strings.Contains(got[1].hdr, "KV-Operation: DEL") {
		t.Fatalf("delete marker delivered as %+v", got[1])
	}
	put(t, s, "a", "3")
	got = bus.waitFor(t, 3)
	if want := `a s4 c3 p0 "3"|`; summary(t, got[2:]) != want {
		t.Fatalf("live: %s", summary(t, got[2:]))
	}
	info := c.Info()
	if info.Delivered.Consumer != 3 || info.Delivered.Stream != 4 || info.NumPending != 0 {
		t.Fatalf("info %+v", info)
	}
}

func TestDeliverPolicies(t *testing.T) {
	s := openStream(t)
	for i := 1; i <= 5; i++ {
		put(t, s, fmt.Sprintf("k%d", i%2), fmt.Sprint(i))
	}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{DeliverPolicy: DeliverAll}, `k1 s1 c1 p4 "1"|k0 s2 c2 p3 "2"|k1 s3 c3 p2 "3"|k0 s4 c4 p1 "4"|k1 s5 c5 p0 "5"|`},
		{Config{DeliverPolicy: DeliverAll, FilterSubjects: []string{"$KV.w.k0"}}, `k0 s2 c1 p1 "2"|k0 s4 c2 p0 "4"|`},
		{Config{DeliverPolicy: DeliverLast, FilterSubjects: []string{"$KV.w.k0"}}, `k0 s4 c1 p0 "4"|`},
		{Config{DeliverPolicy: DeliverLast}, `k1 s5 c1 p0 "5"|`},
		{Config{DeliverPolicy: DeliverByStartSequence, OptStartSeq: 4}, `k0 s4 c1 p1 "4"|k1 s5 c2 p0 "5"|`},
		{Config{DeliverPolicy: DeliverLastPerSubject}, `k0 s4 c1 p1 "4"|k1 s5 c2 p0 "5"|`},
		{Config{DeliverPolicy: DeliverAll, FilterSubjects: []string{"$KV.w.k0", "$KV.w.k1"}}, `k1 s1 c1 p4 "1"|k0 s2 c2 p3 "2"|k1 s3 c3 p2 "3"|k0 s4 c4 p1 "4"|k1 s5 c5 p0 "5"|`},
	}
	for i, tc := range cases {
		bus := newFakeBus()
		m := NewManager(bus, nil)
		tc.cfg.DeliverSubject = "_INBOX.d"
		if _, err := m.Create(s, tc.cfg); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(tc.want, "|")
		if got := summary(t, bus.waitFor(t, n)); got != tc.want {
			t.Errorf("case %d: got  %s\nwant %s", i, got, tc.want)
		}
		m.Close()
	}
	// New: only what comes after.
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.n", DeliverPolicy: DeliverNew}); err != nil {
		t.Fatal(err)
	}
	put(t, s, "k9", "new")
	if got := summary(t, bus.waitFor(t, 1)); got != `k9 s6 c1 p0 "new"|` {
		t.Fatalf("deliver new: %s", got)
	}
}

func TestHeadersOnly(t *testing.T) {
	s := openStream(t)
	put(t, s, "a", "hello")
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	m.Create(s, Config{DeliverSubject: "_INBOX.h", HeadersOnly: true})
	d := bus.waitFor(t, 1)[0]
	if d.data != "" || d.hdr != "NATS/1.0\r\nNats-Msg-Size: 5\r\n\r\n" {
		t.Fatalf("headers only: %+v", d)
	}
}

func TestHeartbeatAndInactivity(t *testing.T) {
	s := openStream(t)
	put(t, s, "a", "1")
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	c, _ := m.Create(s, Config{DeliverSubject: "_INBOX.hb", IdleHeartbeat: 20 * time.Millisecond, InactiveThreshold: 100 * time.Millisecond})
	bus.waitFor(t, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		bus.mu.Lock()
		var hb string
		for _, d := range bus.got {
			if strings.HasPrefix(d.hdr, "NATS/1.0 100 Idle Heartbeat") {
				hb = d.hdr
			}
		}
		bus.mu.Unlock()
		if hb != "" {
			if !strings.Contains(hb, "Nats-Last-Consumer: 1\r\n") || !strings.Contains(hb, "Nats-Last-Stream: 1\r\n") {
				t.Fatalf("heartbeat %q", hb)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Losing interest removes the consumer after the threshold.
	bus.mu.Lock()
	bus.interest = false
	bus.mu.Unlock()
	for m.Count("KV_w") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("inactive consumer not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Stop()
}

func TestFlowControlPausesDelivery(t *testing.T) {
	s := openStream(t)
	big := strings.Repeat("x", 512*1024)
	for i := 0; i < 20; i++ {
		put(t, s, fmt.Sprintf("k%d", i), big)
	}
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	m.Create(s, Config{DeliverSubject: "_INBOX.fc", FlowControl: true})
	// 2 MiB per request and 2 unanswered at most: delivery stops at 8
	// messages until the client answers.
	bus.waitFor(t, 8)
	time.Sleep(50 * time.Millisecond) // nothing more may arrive; a bounded negative check
	if n := len(bus.messages()); n != 8 {
		t.Fatalf("delivered %d while flow control was unanswered", n)
	}
	for delivered := 0; delivered < 20; {
		bus.mu.Lock()
		var fcs []string
		for _, d := range bus.got {
			if strings.HasPrefix(d.hdr, "NATS/1.0 100 FlowControl Request") {
				fcs = append(fcs, d.reply)
			}
		}
		bus.mu.Unlock()
		for _, r := range fcs {
			bus.answer(r)
		}
		delivered = len(bus.waitFor(t, min(delivered+4, 20)))
	}
}

// racyStream stores two messages, one per filter, in the middle of the
// consumer's first multi-filter lookup that finds nothing on "a".
type racyStream struct {
	store.Stream
	t    *testing.T
	once sync.Once
}

func (r *racyStream) GetNext(filter string, start uint64) (*store.Msg, error) {
	m, err := r.Stream.GetNext(filter, start)
	if filter == "$KV.w.a" && err != nil {
		r.once.Do(func() {
			put(r.t, r.Stream, "a", "X")
			put(r.t, r.Stream, "b", "Y")
		})
	}
	return m, err
}

// TestMultiFilterNoSkip: a message stored on one filter while the
// consumer looks at another is still delivered, before later ones.
func TestMultiFilterNoSkip(t *testing.T) {
	s := &racyStream{Stream: openStream(t), t: t}
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.m", DeliverPolicy: DeliverNew, FilterSubjects: []string{"$KV.w.a", "$KV.w.b"}}); err != nil {
		t.Fatal(err)
	}
	got := bus.waitFor(t, 2)
	if want := `a s1 c1 p1 "X"|b s2 c2 p0 "Y"|`; summary(t, got) != want {
		t.Fatalf("got  %s\nwant %s", summary(t, got), want)
	}
}

// TestFlowControlStallEndsWithoutInterest: a consumer waiting for
// flow-control answers from a client that went away removes itself
// after the inactive threshold.
func TestFlowControlStallEndsWithoutInterest(t *testing.T) {
	s := openStream(t)
	big := strings.Repeat("x", 512*1024)
	for i := 0; i < 20; i++ {
		put(t, s, fmt.Sprintf("k%d", i), big)
	}
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.gone", FlowControl: true, InactiveThreshold: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	bus.waitFor(t, 8) // blocked on two unanswered requests
	bus.mu.Lock()
	bus.interest = false
	bus.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for m.Count("KV_w") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("consumer blocked on flow control was not removed after losing interest")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
