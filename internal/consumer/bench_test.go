package consumer

import (
	"strconv"
	"testing"

	"github.com/cairn-db/cairn/internal/store"
)

// BenchmarkAppendNonMatchingWatchers measures an append to a stream
// watched by 10 consumers whose filter matches nothing: the cost must
// not grow with the number of messages stored since they started.
func BenchmarkAppendNonMatchingWatchers(b *testing.B) {
	s := openStreamWith(b, store.MemoryStorage, 1)
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	for range 10 {
		if _, err := m.Create(s, Config{DeliverSubject: "_INBOX.b", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.nomatch.>"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		put(b, s, "k"+strconv.Itoa(i%1000), "v")
	}
}
