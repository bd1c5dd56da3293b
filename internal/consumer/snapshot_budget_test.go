package consumer

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// openBudgetStream opens a stream "KV_w" of keys k0..k<keys-1> in a
// store whose snapshot budget is max entries.
func openBudgetStream(t *testing.T, max int64, keys int) (*store.Store, store.Stream) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{MaxSnapshotEntries: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := st.CreateStream(store.Config{Name: "KV_w", Subjects: []string{"$KV.w.>"}, Storage: store.FileStorage, MaxMsgsPerSubject: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		put(t, s, "k"+strconv.Itoa(i), "v")
	}
	return st, s
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A watch nobody subscribes to gives its snapshot back after the
// snapshot interest wait, not after its inactive threshold (an hour
// here); a consumer past its snapshot keeps the threshold. A watch that
// does not fit in the budget is refused with store.ErrSnapshotBudget
// until then.
func TestSnapshotWithoutInterestReleased(t *testing.T) {
	const wait = 300 * time.Millisecond
	st, s := openBudgetStream(t, 50, 30)
	bus := newFakeBus()
	bus.interest = false
	m := NewManager(bus, nil)
	m.SetSnapshotInterestWait(wait)
	defer m.Close()

	watch := Config{DeliverSubject: "nobody.1", DeliverPolicy: DeliverLastPerSubject,
		FilterSubjects: []string{"$KV.w.>"}, InactiveThreshold: time.Hour}
	created := time.Now()
	if _, err := m.Create(s, watch); err != nil {
		t.Fatal(err)
	}
	live := Config{DeliverSubject: "nobody.live", DeliverPolicy: DeliverNew, InactiveThreshold: time.Hour}
	liveC, err := m.Create(s, live)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.SnapshotEntries(); got != 30 {
		t.Fatalf("SnapshotEntries %d, want 30", got)
	}
	second := watch
	second.DeliverSubject = "nobody.2"
	if _, err := m.Create(s, second); !errors.Is(err, store.ErrSnapshotBudget) {
		t.Fatalf("second watch: %v, want ErrSnapshotBudget", err)
	}
	waitUntil(t, "the watch without a subscriber to end", func() bool {
		return st.SnapshotEntries() == 0 && m.Count("KV_w") == 1
	})
	if elapsed := time.Since(created); elapsed < wait {
		t.Fatalf("the watch ended after %v, before the wait of %v", elapsed, wait)
	}
	if _, err := m.Get("KV_w", liveC.Name()); err != nil {
		t.Fatalf("the consumer without a snapshot ended too: %v", err)
	}
	// Its share is back: the second watch fits now, and a subscriber
	// that comes within the wait gets every key.
	if _, err := m.Create(s, second); err != nil {
		t.Fatalf("second watch after the first ended: %v", err)
	}
	bus.mu.Lock()
	bus.interest = true
	bus.mu.Unlock()
	if got := len(bus.waitFor(t, 30)); got != 30 {
		t.Fatalf("delivered %d keys, want 30", got)
	}
	waitUntil(t, "the delivered snapshot to be released", func() bool { return st.SnapshotEntries() == 0 })
}
