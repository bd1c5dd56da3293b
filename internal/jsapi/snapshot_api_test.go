package jsapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/cairn-db/cairn/internal/store"
)

// testArchive returns an archive of a few messages, uncompressed.
func testArchive(t *testing.T) ([]byte, []store.ExportedMsg) {
	t.Helper()
	msgs := []store.ExportedMsg{
		{Msg: store.Msg{Subject: "$KV.b.a", Data: []byte("1"), Seq: 2, Time: 10}},
		{Msg: store.Msg{Subject: "$KV.b.b", Header: []byte("NATS/1.0\r\nNats-TTL: 5s\r\n\r\n"), Data: []byte{}, Seq: 5, Time: 11}, TTL: 5 * time.Second, MsgID: "id"},
		{Msg: store.Msg{Subject: "$KV.b.c", Data: []byte("333"), Seq: 9, Time: 12}, TTL: -1},
	}
	var buf bytes.Buffer
	hdr := &archiveHeader{Stream: "KV_b", Config: StreamConfig{Name: "KV_b", Storage: StorageFile}, State: StreamState{Msgs: 3}, LastSeq: 10, LastTime: 13}
	aw, err := newArchiveWriter(&buf, hdr)
	if err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if err := aw.add(&msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), msgs
}

// readAll reads an archive to its end.
func readAll(b []byte) ([]store.ExportedMsg, error) {
	ar, err := readArchiveHeader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var out []store.ExportedMsg
	for range 1_000_000 {
		m, err := ar.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return nil, errors.New("archive does not end")
}

func TestArchiveRoundTrip(t *testing.T) {
	b, msgs := testArchive(t)
	got, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("read %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if fmt.Sprint(got[i]) != fmt.Sprint(msgs[i]) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got[i], msgs[i])
		}
	}
}

// TestArchiveDamageDetected: every changed byte and every cut is an
// error, never a success or a panic.
func TestArchiveDamageDetected(t *testing.T) {
	b, _ := testArchive(t)
	for i := range b {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			c := bytes.Clone(b)
			c[i] ^= x
			if _, err := readAll(c); err == nil || !(errors.Is(err, errArchive) || errors.Is(err, errArchiveTruncated)) {
				t.Fatalf("byte %d ^ %#x: %v", i, x, err)
			}
		}
	}
	for n := range len(b) {
		_, err := readAll(b[:n])
		if err == nil {
			t.Fatalf("cut at %d of %d: read as complete", n, len(b))
		}
		if n > len(archiveMagic)+5+100 && !errors.Is(err, errArchiveTruncated) {
			t.Fatalf("cut at %d: %v, want a truncation", n, err)
		}
	}
	if _, err := readAll(append(bytes.Clone(b), 0)); err == nil || !strings.Contains(err.Error(), "after its trailer") {
		t.Fatalf("trailing byte: %v", err)
	}
}

// snapshotReceiver collects a snapshot's chunks on the fake bus,
// acknowledging them unless told not to.
type snapshotReceiver struct {
	bus    *fakeBus
	mu     sync.Mutex
	data   bytes.Buffer
	chunks int
	status string
	noAck  bool
	done   chan struct{}
}

func newSnapshotReceiver(bus *fakeBus, subject string, noAck bool) *snapshotReceiver {
	r := &snapshotReceiver{bus: bus, noAck: noAck, done: make(chan struct{})}
	_, _ = bus.Subscribe(subject, func(_, reply string, hdr, data []byte) {
		r.mu.Lock()
		if len(data) == 0 && len(hdr) > 0 {
			r.status = strings.TrimSpace(string(hdr))
			r.mu.Unlock()
			close(r.done)
			return
		}
		r.data.Write(data)
		probe := strings.HasSuffix(reply, ".0")
		if !probe {
			r.chunks++
		}
		ack := probe || !r.noAck
		r.mu.Unlock()
		if ack && reply != "" {
			bus.Publish(reply, "", nil, nil)
		}
	})
	return r
}

func (r *snapshotReceiver) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the snapshot did not end")
	}
}

// fillRandom stores n incompressible messages of size bytes in KV_b.
func fillRandom(t *testing.T, bus *fakeBus, n, size int) {
	t.Helper()
	for i := range n {
		v := make([]byte, size)
		_, _ = rand.Read(v)
		bus.Publish(fmt.Sprintf("$KV.b.k%d", i), "_INBOX.put", nil, v)
		if a := bus.answer("_INBOX.put"); !strings.Contains(a, `"seq"`) {
			t.Fatalf("put: %s", a)
		}
	}
}

func TestSnapshotFlowControl(t *testing.T) {
	defer func(d time.Duration) { snapshotAckTimeout = d }(snapshotAckTimeout)
	snapshotAckTimeout = 300 * time.Millisecond
	a, bus := newBenchAPI(t)
	fillRandom(t, bus, 200, 1000) // ~200 KB that s2 cannot shrink

	// A receiver that never acknowledges gets one window, then 408.
	r := newSnapshotReceiver(bus, "_INBOX.stuck", true)
	bus.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.snap1", nil, []byte(`{"deliver_subject":"_INBOX.stuck","chunk_size":4096,"window_size":16384}`))
	if ans := bus.answer("_INBOX.snap1"); !strings.Contains(ans, typeStreamSnapshot) || strings.Contains(ans, "error") {
		t.Fatalf("snapshot answer: %s", ans)
	}
	r.wait(t)
	if r.chunks != 4 || r.status != "NATS/1.0 408 No Flow Response" {
		t.Fatalf("without acks: %d chunks then %q, want 4 then 408", r.chunks, r.status)
	}

	// One that acknowledges gets everything, a valid archive, then 204.
	r = newSnapshotReceiver(bus, "_INBOX.ok", false)
	bus.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.snap2", nil, []byte(`{"deliver_subject":"_INBOX.ok","chunk_size":4096,"window_size":16384}`))
	r.wait(t)
	if r.status != "NATS/1.0 204" || r.chunks < 40 {
		t.Fatalf("with acks: %d chunks then %q", r.chunks, r.status)
	}
	raw, err := io.ReadAll(s2.NewReader(bytes.NewReader(r.data.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := readAll(raw)
	if err != nil || len(msgs) != 200 {
		t.Fatalf("archive: %d messages, %v", len(msgs), err)
	}
	waitNoAckSubs(t, bus)
	_ = a
}

// waitNoAckSubs waits until every snapshot has unsubscribed its acks:
// the snapshot goroutines have ended.
func waitNoAckSubs(t *testing.T, bus *fakeBus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		bus.mu.Lock()
		n := 0
		for s := range bus.subs {
			if strings.HasPrefix(s, snapshotAckPrefix) || strings.HasPrefix(s, restoreDeliverPrefix) {
				n++
			}
		}
		bus.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshot or restore subscriptions left", n)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestSnapshotNoInterest(t *testing.T) {
	defer func(d time.Duration) { probeTimeout = d }(probeTimeout)
	probeTimeout = 100 * time.Millisecond
	_, bus := newBenchAPI(t)
	bus.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.s", nil, []byte(`{"deliver_subject":"_INBOX.nobody"}`))
	waitNoAckSubs(t, bus)
	if got := bus.answer("_INBOX.nobody"); got != "NATS/1.0 408 No Interest\r\n\r\n" {
		t.Fatalf("last message to the deliver subject: %q", got)
	}
}

func TestSnapshotRestoreErrors(t *testing.T) {
	_, bus := newBenchAPI(t)
	bus.Publish("$JS.API.STREAM.CREATE.MEM", "_INBOX.c", nil, []byte(`{"name":"MEM","storage":"memory"}`))
	tests := []struct {
		subject, body, want string
	}{
		{"$JS.API.STREAM.SNAPSHOT.KV_b", ``, `"err_code":10003`},
		{"$JS.API.STREAM.SNAPSHOT.NONE", `{"deliver_subject":"x"}`, `"err_code":10059`},
		{"$JS.API.STREAM.SNAPSHOT.KV_b", `{"deliver_subject":"a.*"}`, `"err_code":10015`},
		{"$JS.API.STREAM.SNAPSHOT.KV_b", `{"deliver_subject":"x","bogus":1}`, `"err_code":10025`},
		{"$JS.API.STREAM.SNAPSHOT.MEM", `{"deliver_subject":"x"}`, `"description":"snapshot failed: memory streams do not support snapshots"`},
		{"$JS.API.STREAM.RESTORE.KV_b", ``, `"err_code":10003`},
		{"$JS.API.STREAM.RESTORE.KV_b", `{"config":` + kvConfig + `}`, `"err_code":10130,"description":"stream name already in use, cannot restore"},"deliver_subject":""}`},
		{"$JS.API.STREAM.RESTORE.KV_x", `{"config":` + kvConfig + `}`, `"err_code":10056`},
		{"$JS.API.STREAM.RESTORE.M2", `{"config":{"name":"M2","storage":"memory"}}`, `"err_code":10062`},
		{"$JS.API.STREAM.RESTORE.O", `{"config":{"name":"O","subjects":["$KV.b.x"]}}`, `"err_code":10065`},
	}
	for _, tt := range tests {
		bus.Publish(tt.subject, "_INBOX.e", nil, []byte(tt.body))
		if got := bus.answer("_INBOX.e"); !strings.Contains(got, tt.want) {
			t.Errorf("%s %s:\n got %s\nwant %s", tt.subject, tt.body, got, tt.want)
		}
	}
}

// TestRestoreStalled: a client that asks for a restore and sends
// nothing is dropped after restoreStallTimeout, with nothing created.
func TestRestoreStalled(t *testing.T) {
	defer func(d time.Duration) { restoreStallTimeout = d }(restoreStallTimeout)
	restoreStallTimeout = 100 * time.Millisecond
	a, bus := newBenchAPI(t)
	bus.Publish("$JS.API.STREAM.RESTORE.R", "_INBOX.r", nil, []byte(`{"config":{"name":"R","subjects":["r.>"]}}`))
	var resp restoreResponse
	if err := json.Unmarshal([]byte(bus.answer("_INBOX.r")), &resp); err != nil || resp.DeliverSubject == "" {
		t.Fatalf("restore answer: %s", bus.answer("_INBOX.r"))
	}
	waitNoAckSubs(t, bus)
	if a.lookup("R") != nil {
		t.Fatal("a stalled restore created the stream")
	}
}

// restoreVia runs a restore of archive (compressed) on bus as a client
// would, and returns the final answer.
func restoreVia(t *testing.T, bus *fakeBus, cfg string, archive []byte) string {
	t.Helper()
	var name struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(cfg), &name); err != nil {
		t.Fatal(err)
	}
	bus.mu.Lock()
	for _, subj := range []string{"_INBOX.rr", "_INBOX.chunk", "_INBOX.final"} {
		delete(bus.last, subj) // answers of an earlier restore
	}
	bus.mu.Unlock()
	bus.Publish("$JS.API.STREAM.RESTORE."+name.Name, "_INBOX.rr", nil, []byte(`{"config":`+cfg+`,"state":{}}`))
	var resp restoreResponse
	if err := json.Unmarshal([]byte(bus.answer("_INBOX.rr")), &resp); err != nil || resp.DeliverSubject == "" {
		t.Fatalf("restore answer: %s", bus.answer("_INBOX.rr"))
	}
	for len(archive) > 0 {
		n := min(len(archive), 8192)
		bus.Publish(resp.DeliverSubject, "_INBOX.chunk", nil, archive[:n])
		archive = archive[n:]
		if a := bus.answer("_INBOX.chunk"); a != "" {
			return a // refused before the end
		}
	}
	bus.Publish(resp.DeliverSubject, "_INBOX.final", nil, nil)
	deadline := time.Now().Add(20 * time.Second)
	for bus.answer("_INBOX.final") == "" {
		if time.Now().After(deadline) {
			t.Fatal("no final answer")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	return bus.answer("_INBOX.final")
}

func TestRestoreRoundTripAndStorageLimit(t *testing.T) {
	_, bus := newBenchAPI(t)
	fillRandom(t, bus, 100, 1000)
	r := newSnapshotReceiver(bus, "_INBOX.snap", false)
	bus.Publish("$JS.API.STREAM.SNAPSHOT.KV_b", "_INBOX.s", nil, []byte(`{"deliver_subject":"_INBOX.snap"}`))
	r.wait(t)
	archive := r.data.Bytes()

	// Over the server's file storage limit: refused, nothing left.
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	small := newFakeBus()
	a, err := New(small, st, Options{MaxFileStore: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got := restoreVia(t, small, kvConfig, archive); !strings.Contains(got, `"err_code":10047`) {
		t.Fatalf("restore over the storage limit: %s", got)
	}
	if a.lookup("KV_b") != nil || len(st.Streams()) != 0 {
		t.Fatal("a refused restore left a stream")
	}
	waitNoAckSubs(t, small)

	// Within the limits: the same stream.
	st2, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	big := newFakeBus()
	a2, err := New(big, st2, Options{MaxFileStore: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	got := restoreVia(t, big, kvConfig, archive)
	var cr streamCreateResponse
	if err := json.Unmarshal([]byte(got), &cr); err != nil || cr.Error != nil || cr.StreamInfo == nil || cr.Type != typeStreamCreate {
		t.Fatalf("restore: %s", got)
	}
	if cr.State.Msgs != 100 || cr.State.LastSeq != 100 {
		t.Fatalf("restored state %+v", cr.State)
	}
	waitNoAckSubs(t, big)

	// Another bucket name rewrites the subjects; another stream name
	// that is no bucket is refused.
	renamed := strings.NewReplacer(`"KV_b"`, `"KV_c"`, `$KV.b.`, `$KV.c.`).Replace(kvConfig)
	if got := restoreVia(t, big, renamed, archive); !strings.Contains(got, `"messages":100`) {
		t.Fatalf("restore as KV_c: %s", got)
	}
	if m, err := a2.lookup("KV_c").st.GetLast("$KV.c.k7"); err != nil || len(m.Data) != 1000 {
		t.Fatalf("renamed key: %v", err)
	}
	got = restoreVia(t, big, `{"name":"OTHER","subjects":["other.>"]}`, archive)
	if !strings.Contains(got, "only a KV bucket") || a2.lookup("OTHER") != nil {
		t.Fatalf("restore of a bucket as a plain stream: %s", got)
	}
	waitNoAckSubs(t, big)
}

// FuzzArchiveReader: any input is read to an error or to its end, never
// a panic or a hang, and only an intact archive reads to its end.
func FuzzArchiveReader(f *testing.F) {
	var buf bytes.Buffer
	aw, err := newArchiveWriter(&buf, &archiveHeader{Stream: "S", Config: StreamConfig{Name: "S", Storage: StorageFile}, State: StreamState{Msgs: 1}, LastSeq: 1})
	if err == nil {
		err = aw.add(&store.ExportedMsg{Msg: store.Msg{Subject: "a", Seq: 1, Data: []byte("v")}})
	}
	if err == nil {
		err = aw.finish()
	}
	if err != nil {
		f.Fatal(err)
	}
	b := buf.Bytes()
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte("CAIRNARC\x01\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := readAll(data)
		if err == nil && !bytes.Equal(data, b) && len(msgs) > 0 {
			// Another valid archive is possible only with a matching
			// checksum, which a fuzzer does not find by chance.
			t.Fatalf("a changed archive read as valid: %d messages", len(msgs))
		}
	})
}
