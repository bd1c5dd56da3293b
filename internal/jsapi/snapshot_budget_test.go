package jsapi

import (
	"fmt"
	"testing"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
)

// A watch whose snapshot does not fit in the store's snapshot budget is
// refused with nats-server's 10023 (503), which nats.go's Watch returns
// to the application; deleting a watch gives its share back.
func TestConsumerCreateBeyondSnapshotBudget(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{MaxSnapshotEntries: 25})
	if err != nil {
		t.Fatal(err)
	}
	bus := newFakeBus()
	mgr := consumer.NewManager(consumerBus{bus}, nil)
	a, err := New(bus, st, Options{Consumers: mgr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(); a.Close(); st.Close() })
	wantOK(t, ask(t, bus, "$JS.API.STREAM.CREATE.KV_b", kvConfig))
	for i := range 10 {
		bus.Publish(fmt.Sprintf("$KV.b.k%d", i), "", nil, []byte("v"))
	}
	// Nobody subscribes to the deliver subjects: each watch holds its 10
	// keys until it gives up waiting for interest.
	watch := func(name string) string {
		return createConsumer(bus, t, "KV_b", `{"name":"`+name+`","deliver_subject":"nobody.`+name+
			`","deliver_policy":"last_per_subject","filter_subject":"$KV.b.>","inactive_threshold":3600000000000}`)
	}
	wantOK(t, watch("w1"))
	wantOK(t, watch("w2"))
	wantErr(t, watch("w3"), 10023, "insufficient resources")
	if got := st.SnapshotEntries(); got != 20 {
		t.Fatalf("SnapshotEntries %d after a refusal, want 20", got)
	}
	// A watch of one key still fits.
	wantOK(t, createConsumer(bus, t, "KV_b", `{"name":"one","deliver_subject":"nobody.one",`+
		`"deliver_policy":"last_per_subject","filter_subject":"$KV.b.k1"}`))
	wantOK(t, ask(t, bus, "$JS.API.CONSUMER.DELETE.KV_b.w1", ""))
	wantOK(t, watch("w3"))
	if got := st.SnapshotEntries(); got != 21 {
		t.Fatalf("SnapshotEntries %d, want 21", got)
	}
}
