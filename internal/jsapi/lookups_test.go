package jsapi

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// deleted_details, wildcard last_by_subj and start_time go to the
// store's bounded lookups; these check the wiring, including paging
// through more gaps than one store call lists.
func TestBoundedLookups(t *testing.T) {
	a, bus := newTestAPI(t, Options{})
	createStream(t, bus, `{"name":"L","subjects":["l.>"],"storage":"memory","allow_direct":true}`)
	const n = 2*deletedPage + 501
	for i := 1; i <= n; i++ {
		bus.Publish(fmt.Sprintf("l.%d", i%3), "", nil, []byte("v"))
	}
	st := a.lookup("L").st
	var want []uint64
	for seq := uint64(2); seq < n; seq += 2 {
		if err := st.Delete(seq); err != nil {
			t.Fatal(err)
		}
		want = append(want, seq)
	}
	var info streamInfoResponse
	if err := json.Unmarshal([]byte(ask(t, bus, "$JS.API.STREAM.INFO.L", `{"deleted_details":true}`)), &info); err != nil || info.StreamInfo == nil {
		t.Fatal(err)
	}
	if got := info.State.Deleted; len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
		t.Fatalf("deleted: %d sequences (%v…), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	// The newest message of any l.* subject is the last one, seq n.
	var get msgGetResponse
	if err := json.Unmarshal([]byte(ask(t, bus, "$JS.API.STREAM.MSG.GET.L", `{"last_by_subj":"l.*"}`)), &get); err != nil || get.Message == nil {
		t.Fatalf("last_by_subj: %v %+v", err, get)
	}
	if get.Message.Sequence != n {
		t.Errorf("last_by_subj l.* = %d, want %d", get.Message.Sequence, n)
	}
	m, err := st.Get(n - 2)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, m.Time).UTC().Format(time.RFC3339Nano)
	if err := json.Unmarshal([]byte(ask(t, bus, "$JS.API.STREAM.MSG.GET.L", `{"start_time":"`+start+`","next_by_subj":">"}`)), &get); err != nil || get.Message == nil {
		t.Fatalf("start_time: %v", err)
	}
	if get.Message.Sequence > n-2 || get.Message.Time.UnixNano() > m.Time {
		t.Errorf("start_time %s gave seq %d at %v", start, get.Message.Sequence, get.Message.Time)
	}
	// Times outside what Unix nanoseconds hold give the ends of the stream.
	wantErr(t, ask(t, bus, "$JS.API.STREAM.MSG.GET.L", `{"start_time":"9999-01-01T00:00:00Z","next_by_subj":">"}`), 10037, "no message found")
	if err := json.Unmarshal([]byte(ask(t, bus, "$JS.API.STREAM.MSG.GET.L", `{"start_time":"0001-01-01T00:00:01Z","next_by_subj":">"}`)), &get); err != nil || get.Message == nil || get.Message.Sequence != 1 {
		t.Errorf("start_time in year 1: %v %+v", err, get.Message)
	}
}
