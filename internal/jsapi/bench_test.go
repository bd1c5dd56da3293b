package jsapi

import (
	"strconv"
	"sync"
	"testing"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// fakeBus is an in-memory Bus: subscriptions in a map by pattern,
// matched by scanning; the last publish to each subject is kept.
type fakeBus struct {
	mu   sync.Mutex
	subs map[string]Handler
	last map[string][]byte
}

func newFakeBus() *fakeBus {
	return &fakeBus{subs: map[string]Handler{}, last: map[string][]byte{}}
}

func (b *fakeBus) Subscribe(subj string, h Handler) (func(), error) {
	b.mu.Lock()
	b.subs[subj] = h
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, subj)
		b.mu.Unlock()
	}, nil
}

func (b *fakeBus) Publish(subj, reply string, hdr, data []byte) {
	b.mu.Lock()
	var h Handler
	for pattern, sh := range b.subs {
		if subject.Match(pattern, subj) {
			h = sh
			break
		}
	}
	if h == nil {
		b.last[subj] = append(append([]byte(nil), hdr...), data...)
	}
	b.mu.Unlock()
	if h != nil {
		h(subj, reply, hdr, data)
	}
}

func (b *fakeBus) answer(subj string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.last[subj])
}

func newBenchAPI(tb testing.TB) (*API, *fakeBus) {
	tb.Helper()
	st, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	bus := newFakeBus()
	a, err := New(bus, st, Options{ServerName: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close(); st.Close() })
	bus.Publish("$JS.API.STREAM.CREATE.KV_b", "_INBOX.create", nil, []byte(kvConfig))
	return a, bus
}

// BenchmarkIngest measures one KV put from the bus handler to the
// PubAck, on file storage, without the network.
func BenchmarkIngest(b *testing.B) {
	a, _ := newBenchAPI(b)
	s := a.lookup("KV_b")
	value := make([]byte, 128)
	subjects := make([]string, 1024)
	for i := range subjects {
		subjects[i] = "$KV.b.k" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.ingest(subjects[i%len(subjects)], "_INBOX.ack", nil, value)
	}
}

// BenchmarkDirectGetLast measures one KV get by subject.
func BenchmarkDirectGetLast(b *testing.B) {
	a, bus := newBenchAPI(b)
	s := a.lookup("KV_b")
	value := make([]byte, 128)
	subjects := make([]string, 1024)
	for i := range subjects {
		subjects[i] = "$KV.b.k" + strconv.Itoa(i)
		s.ingest(subjects[i], "", nil, value)
	}
	gets := make([]string, len(subjects))
	for i := range gets {
		gets[i] = directGetPrefix + "KV_b." + subjects[i]
	}
	_ = bus
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.directGetLast(gets[i%len(gets)], "_INBOX.get", nil, nil)
	}
}
