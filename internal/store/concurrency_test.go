package store

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentAppendSubscribe: writers, readers and a subscriber at
// once. The subscriber must see every stored message exactly once, in
// sequence order, and each append's message before Append returns.
func TestConcurrentAppendSubscribe(t *testing.T) {
	for _, always := range []bool{false, true} {
		t.Run(fmt.Sprintf("always=%v", always), func(t *testing.T) {
			forEachStorage(t, func(t *testing.T, h *harness) {
				if always {
					h.st.Close()
					h.opts.SyncAlways = true
					h.open()
				}
				s := h.create(Config{MaxMsgsPerSubject: 2})
				var mu sync.Mutex
				var seen []uint64
				cancel := s.Subscribe(func(m *Msg) {
					mu.Lock()
					seen = append(seen, m.Seq)
					mu.Unlock()
				})
				defer cancel()
				const writers, per = 4, 300
				var wg sync.WaitGroup
				for w := 0; w < writers; w++ {
					wg.Add(2)
					go func() {
						defer wg.Done()
						for i := 0; i < per; i++ {
							r, err := s.Append(fmt.Sprintf("k.%d", i%10), nil, []byte("v"), AppendOpts{})
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							ok := len(seen) > 0 && seen[len(seen)-1] >= r.Seq
							mu.Unlock()
							if !ok {
								t.Errorf("Append(%d) returned before its delivery", r.Seq)
								return
							}
						}
					}()
					go func() {
						defer wg.Done()
						for i := 0; i < per; i++ {
							s.GetLast(fmt.Sprintf("k.%d", i%10))
							s.LastPerSubject("k.*", func(*Msg) bool { return true })
							s.State()
						}
					}()
				}
				wg.Wait()
				mu.Lock()
				defer mu.Unlock()
				if len(seen) != writers*per {
					t.Fatalf("saw %d messages, want %d", len(seen), writers*per)
				}
				for i, seq := range seen {
					if seq != uint64(i+1) {
						t.Fatalf("delivery %d has seq %d", i, seq)
					}
				}
			})
		})
	}
}
