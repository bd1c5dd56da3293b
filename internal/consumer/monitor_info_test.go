package consumer

import (
	"testing"
	"time"
)

// TestCurrentInfoLeavesCreationState: a monitoring read after delivery
// began reports the current state, and the create response's Info
// still reports the state at creation.
func TestCurrentInfoLeavesCreationState(t *testing.T) {
	s := openStream(t)
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	bus := newFakeBus()
	m := NewManager(bus, nil)
	defer m.Close()
	c, err := m.Create(s, Config{Name: "M", DeliverSubject: "_INBOX.m", DeliverPolicy: DeliverLastPerSubject, FilterSubjects: []string{"$KV.w.>"}})
	if err != nil {
		t.Fatal(err)
	}
	bus.waitFor(t, 2)
	waitCurrent := func() Info {
		// Delivery is counted after the publish the bus saw: poll.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if in := c.CurrentInfo(); in.Delivered.Consumer == 2 {
				return in
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatal("two deliveries not counted")
		return Info{}
	}
	if in := waitCurrent(); in.NumPending != 0 || in.Delivered.Stream != 2 {
		t.Fatalf("current %+v", in)
	}
	if in := c.Info(); in.Delivered.Consumer != 0 || in.NumPending != 2 {
		t.Fatalf("create response %+v, want the state at creation", in)
	}
}
