package jsapi

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// startRestoreVia asks bus for a restore of cfg and sends all of
// archive but not the empty message that ends it; it returns the
// deliver subject.
func startRestoreVia(t *testing.T, bus *fakeBus, name, cfg string, archive []byte) string {
	t.Helper()
	inbox := "_INBOX.rr." + name
	bus.Publish("$JS.API.STREAM.RESTORE."+name, inbox, nil, []byte(`{"config":`+cfg+`,"state":{}}`))
	var resp restoreResponse
	if err := json.Unmarshal([]byte(bus.answer(inbox)), &resp); err != nil || resp.DeliverSubject == "" {
		t.Fatalf("restore answer: %s", bus.answer(inbox))
	}
	for len(archive) > 0 {
		n := min(len(archive), 8192)
		bus.Publish(resp.DeliverSubject, "_INBOX.chunk."+name, nil, archive[:n])
		archive = archive[n:]
		if a := bus.answer("_INBOX.chunk." + name); a != "" {
			t.Fatalf("restore of %s refused before its end: %s", name, a)
		}
	}
	return resp.DeliverSubject
}

// finishRestoreVia sends the end of a restore started by
// startRestoreVia and returns the outcome.
func finishRestoreVia(t *testing.T, bus *fakeBus, name, deliver string) string {
	t.Helper()
	inbox := "_INBOX.final." + name
	bus.Publish(deliver, inbox, nil, nil)
	deadline := time.Now().Add(20 * time.Second)
	for bus.answer(inbox) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no final answer for %s", name)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	return bus.answer(inbox)
}

// Two restores that each fit in the file storage limit but not together
// are both checked against the room left when they commit: the second
// to finish fails with 10047 instead of taking the account past its
// limit (the room was only measured when each restore started).
func TestConcurrentRestoresStayWithinStorageLimit(t *testing.T) {
	_, src := newBenchAPI(t)
	fillRandom(t, src, 100, 1000)
	r := newSnapshotReceiver(src, "_INBOX.snap", false)
	src.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.s", nil, []byte(`{"deliver_subject":"_INBOX.snap"}`))
	r.wait(t)
	archive := r.data.Bytes()

	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus := newFakeBus()
	const limit = 150_000 // one restore of ~104 kB fits, two do not
	a, err := New(bus, st, Options{MaxFileStore: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cfgFor := func(bucket string) string {
		return strings.NewReplacer(`"KV_b"`, `"KV_`+bucket+`"`, `$KV.b.`, `$KV.`+bucket+`.`).Replace(kvConfig)
	}
	dc := startRestoreVia(t, bus, "KV_c", cfgFor("c"), archive)
	dd := startRestoreVia(t, bus, "KV_d", cfgFor("d"), archive)
	first := finishRestoreVia(t, bus, "KV_c", dc)
	if !strings.Contains(first, `"messages":100`) {
		t.Fatalf("first restore: %s", first)
	}
	second := finishRestoreVia(t, bus, "KV_d", dd)
	if !strings.Contains(second, `"err_code":10047`) {
		t.Fatalf("second restore past the file storage limit (%d bytes used of %d): %s", a.serverUsed(StorageFile), limit, second)
	}
	if a.lookup("KV_d") != nil {
		t.Fatal("the refused restore left its stream")
	}
	if used := a.serverUsed(StorageFile); used > limit {
		t.Fatalf("%d bytes stored, past the limit of %d", used, limit)
	}
	waitNoAckSubs(t, bus)
}

// heapInUse returns the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// A flood of restore and snapshot requests that never send or take a
// byte (each a few hundred bytes for the client) cost the server a
// decompression buffer of more than a megabyte, or a chunk buffer as
// large as chunk_size and a pinned Pebble snapshot, for the seconds
// before they time out: unbounded, a few thousand of them exhaust its
// memory. Past a fixed number in progress, more are refused with 10023.
func TestTransferFloodBounded(t *testing.T) {
	defer func(d time.Duration) { restoreStallTimeout = d }(restoreStallTimeout)
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	restoreStallTimeout, probeTimeout = 2*time.Second, 2*time.Second
	_, bus := newBenchAPI(t)
	fillRandom(t, bus, 10, 100)
	before := heapInUse()
	const flood = 300
	refusedRestores, refusedSnapshots := 0, 0
	for i := range flood {
		inbox := fmt.Sprintf("_INBOX.flood.%d", i)
		bus.Publish(fmt.Sprintf("$JS.API.STREAM.RESTORE.R%d", i), inbox, nil,
			[]byte(fmt.Sprintf(`{"config":{"name":"R%d","subjects":["r%d.>"]}}`, i, i)))
		if strings.Contains(bus.answer(inbox), `"err_code":10023`) {
			refusedRestores++
		}
		inbox = fmt.Sprintf("_INBOX.snapflood.%d", i)
		bus.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", inbox, nil,
			[]byte(fmt.Sprintf(`{"deliver_subject":"_INBOX.nobody.%d","chunk_size":1048576}`, i)))
		if strings.Contains(bus.answer(inbox), `"err_code":10023`) {
			refusedSnapshots++
		}
	}
	grown := heapInUse() - before
	t.Logf("heap grew by %d MB; refused %d restores and %d snapshots", grown>>20, refusedRestores, refusedSnapshots)
	if grown > 128<<20 {
		t.Errorf("%d restore and snapshot requests that send nothing hold %d MB", 2*flood, grown>>20)
	}
	if refusedRestores == 0 || refusedSnapshots == 0 {
		t.Errorf("none of %d restores (%d refused) or snapshots (%d refused) in progress at once was refused", flood, refusedRestores, refusedSnapshots)
	}
	waitNoAckSubs(t, bus)
	// Once they ended, transfers are accepted again.
	bus.Publish("$JS.API.STREAM.RESTORE.AGAIN", "_INBOX.again", nil, []byte(`{"config":{"name":"AGAIN","subjects":["again.>"]}}`))
	if got := bus.answer("_INBOX.again"); !strings.Contains(got, restoreDeliverPrefix) {
		t.Fatalf("a restore after the flood ended: %s", got)
	}
	waitNoAckSubs(t, bus)
}

// One account that keeps restores and snapshots open (a client that
// trickles a byte now and then, or acknowledges just in time) takes at
// most its own share of the places: another account still restores.
func TestTransferPlacesPerAccount(t *testing.T) {
	defer func(d time.Duration) { restoreStallTimeout = d }(restoreStallTimeout)
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	restoreStallTimeout, probeTimeout = 2*time.Second, 2*time.Second
	_, hog := newBenchAPI(t)
	fillRandom(t, hog, 10, 100)
	for i := range restoresRunning.max + snapshotsRunning.max {
		inbox := fmt.Sprintf("_INBOX.hog.%d", i)
		hog.Publish(fmt.Sprintf("$JS.API.STREAM.RESTORE.R%d", i), inbox, nil,
			[]byte(fmt.Sprintf(`{"config":{"name":"R%d","subjects":["r%d.>"]}}`, i, i)))
		hog.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", inbox+".s", nil, []byte(`{"deliver_subject":"_INBOX.nobody"}`))
	}
	_, other := newBenchAPI(t)
	other.Publish("$JS.API.STREAM.RESTORE.MINE", "_INBOX.mine", nil, []byte(`{"config":{"name":"MINE","subjects":["mine.>"]}}`))
	if got := other.answer("_INBOX.mine"); !strings.Contains(got, restoreDeliverPrefix) {
		t.Errorf("another account's restore while one holds all it may: %s", got)
	}
	other.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.mines", nil, []byte(`{"deliver_subject":"_INBOX.nobody"}`))
	if got := other.answer("_INBOX.mines"); strings.Contains(got, `"error"`) {
		t.Errorf("another account's snapshot while one holds all it may: %s", got)
	}
	waitNoAckSubs(t, hog)
	waitNoAckSubs(t, other)
}
