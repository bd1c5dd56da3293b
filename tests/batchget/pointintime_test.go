package batchget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// fillKeys creates the bucket (history 1) and puts keys k0..k<n-1> with
// value "v<i>", asynchronously, waiting for every acknowledgement.
func fillKeys(t testing.TB, s *side, bucket string, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	// In windows of 1,000 acknowledgements: nats.go fails a publish that
	// finds 4,000 outstanding for 200 ms, which a loaded CI machine can
	// take.
	wait := func() {
		select {
		case <-s.js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: %d puts not acknowledged within 60s", s.name, s.js.PublishAsyncPending())
		}
	}
	for i := 0; i < n; i++ {
		if _, err := s.js.PublishAsync(fmt.Sprintf("$KV.%s.k%d", bucket, i), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			wait()
		}
	}
	wait()
}

// lastMsgs collects what GetLastMsgsFor yields, failing t on error.
func lastMsgs(t testing.TB, s *side, stream string, subjects []string, opts ...jetstreamext.GetLastForOpt) ([]*jetstream.RawStreamMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stream, subjects, opts...)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.RawStreamMsg
	for m, err := range it {
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

// checkAllKeys requires msgs to be keys k0..k<n-1> of bucket, once each,
// with value "v<i>", in ascending sequence order.
func checkAllKeys(t testing.TB, msgs []*jetstream.RawStreamMsg, bucket string, n int) {
	t.Helper()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	seen := make(map[string]bool, n)
	var last uint64
	for _, m := range msgs {
		var i int
		if _, err := fmt.Sscanf(m.Subject, "$KV."+bucket+".k%d", &i); err != nil || string(m.Data) != fmt.Sprint("v", i) || seen[m.Subject] {
			t.Fatalf("unexpected %s=%q (seen %v)", m.Subject, m.Data, seen[m.Subject])
		}
		if m.Sequence <= last {
			t.Fatalf("%s@%d after %d: not ascending", m.Subject, m.Sequence, last)
		}
		seen[m.Subject], last = true, m.Sequence
	}
}

// TestManySubjects: past 1024 subjects nats-server refuses a multi_last
// request (413 Too Many Results, which orbit.go reports as
// ErrBatchUnsupported); Cairn answers all of them.
func TestManySubjects(t *testing.T) {
	const n = 1500
	sides := bothSides(t)
	for _, s := range sides {
		fillKeys(t, s, "big", n)
	}
	peer, cairn := sides[0], sides[1]
	body := `{"multi_last":["$KV.big.>"]}`
	if got, want := raw(t, peer, "KV_big", body), `Description=Too Many Results; Status=413; ""`; len(got) != 1 || got[0] != want {
		t.Fatalf("nats-server answered %q, want %q", got, want)
	}
	if _, err := lastMsgs(t, peer, "KV_big", []string{"$KV.big.>"}); !errors.Is(err, jetstreamext.ErrBatchUnsupported) {
		t.Fatalf("orbit.go against nats-server: %v, want ErrBatchUnsupported", err)
	}
	msgs, err := lastMsgs(t, cairn, "KV_big", []string{"$KV.big.>"})
	if err != nil {
		t.Fatal(err)
	}
	checkAllKeys(t, msgs, "big", n)
	answer := raw(t, cairn, "KV_big", body)
	if got, want := answer[len(answer)-1], fmt.Sprintf(`Description=EOB; Nats-Last-Sequence=%d; Nats-Num-Pending=0; Nats-UpTo-Sequence=%d; Status=204; ""`, n, n); got != want {
		t.Fatalf("end marker %s, want %s", got, want)
	}
}

// TestWholeBucket reads 12,000 keys with one GetLastMsgsFor, then page
// by page with "batch", continuing from Nats-Last-Sequence + 1 at the
// first page's Nats-UpTo-Sequence while new keys are written: they are
// not part of the answer (cairn only: nats-server refuses past 1024).
func TestWholeBucket(t *testing.T) {
	const n = 12000
	s := connect(t, "cairn", startCairn(t))
	fillKeys(t, s, "w", n)
	msgs, err := lastMsgs(t, s, "KV_w", []string{"$KV.w.>"})
	if err != nil {
		t.Fatal(err)
	}
	checkAllKeys(t, msgs, "w", n)

	var all []*jetstream.RawStreamMsg
	var upTo, from uint64
	for page := 0; ; page++ {
		if page > n/5000+2 {
			t.Fatalf("no end after %d pages", page)
		}
		req := map[string]any{"multi_last": []string{"$KV.w.>"}, "batch": 5000}
		if upTo != 0 {
			req["up_to_seq"], req["seq"] = upTo, from
		}
		got, eob := page1(t, s, "KV_w", req)
		all = append(all, got...)
		if upTo == 0 {
			upTo = headerUint(t, eob, "Nats-UpTo-Sequence")
		}
		// Keys written meanwhile are beyond the up-to sequence.
		publish(t, s, fmt.Sprintf("$KV.w.new%d", page), "new")
		if headerUint(t, eob, "Nats-Num-Pending") == 0 {
			break
		}
		from = headerUint(t, eob, "Nats-Last-Sequence") + 1
	}
	checkAllKeys(t, all, "w", n)
}

// page1 sends one batch request and returns its messages and end marker.
func page1(t testing.TB, s *side, stream string, req map[string]any) ([]*jetstream.RawStreamMsg, *nats.Msg) {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, sub.Subject, body); err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for i := 0; i < 1<<20; i++ {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		if m.Header.Get("Status") != "" {
			if m.Header.Get("Status") != "204" {
				t.Fatalf("status %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
			}
			return out, m
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &jetstream.RawStreamMsg{Subject: m.Header.Get("Nats-Subject"), Sequence: seq, Data: m.Data, Header: m.Header})
	}
	t.Fatal("no end marker")
	return nil, nil
}

func headerUint(t testing.TB, m *nats.Msg, key string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(m.Header.Get(key), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

// write is one acknowledged put.
type write struct {
	key, value string
}

// TestPointInTimeWhileWriting reads a bucket of history 1 with
// GetLastMsgsFor while two writers keep rewriting its keys. Every
// answer must be exactly the bucket as of its highest sequence U (with
// a filter matching every key, the message at U is in the answer): for
// each key, the value of its last write at or below U, computed from
// the writers' acknowledgements.
func TestPointInTimeWhileWriting(t *testing.T) {
	for _, s := range bothSides(t) {
		// nats-server answers at most 1024 keys; with more, Cairn walks
		// its index in chunks while the writers go on.
		keys := 500
		if s.name == "cairn" {
			keys = 5000
		}
		t.Run(s.name, func(t *testing.T) {
			fillKeys(t, s, "pit", keys)
			var mu sync.Mutex
			log := make(map[uint64]write, 4*keys)
			for i := 0; i < keys; i++ {
				log[uint64(i+1)] = write{fmt.Sprint("k", i), fmt.Sprint("v", i)}
			}
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 1))
					for i := 0; ctx.Err() == nil && i < 100000; i++ {
						key, value := fmt.Sprint("k", rng.IntN(keys)), fmt.Sprintf("w%d-%d", w, i)
						pctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						ack, err := s.js.Publish(pctx, "$KV.pit."+key, []byte(value))
						cancel()
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						log[ack.Sequence] = write{key, value}
						mu.Unlock()
					}
				}(w)
			}
			var answers [][]*jetstream.RawStreamMsg
			for r := 0; r < 30; r++ {
				msgs, err := lastMsgs(t, s, "KV_pit", []string{"$KV.pit.>"})
				if err != nil {
					stop()
					wg.Wait()
					t.Fatal(err)
				}
				answers = append(answers, msgs)
			}
			stop()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			upTos := map[uint64]bool{}
			for r, msgs := range answers {
				upTos[checkAsOf(t, r, msgs, log, keys)] = true
			}
			t.Logf("%d writes, %d answers at %d different revisions", len(log)-keys, len(answers), len(upTos))
			if len(upTos) < 3 {
				t.Fatalf("the writers did not interleave with the reads: %d revisions", len(upTos))
			}
		})
	}
}

// checkAsOf compares one answer with the bucket as of its highest
// sequence, rebuilt from the log of acknowledged writes.
func checkAsOf(t *testing.T, r int, msgs []*jetstream.RawStreamMsg, log map[uint64]write, keys int) uint64 {
	t.Helper()
	var upTo uint64
	for _, m := range msgs {
		upTo = max(upTo, m.Sequence)
	}
	want := make(map[string]uint64, keys)
	for seq := uint64(1); seq <= upTo; seq++ {
		w, ok := log[seq]
		if !ok {
			t.Fatalf("answer %d: sequence %d is not a logged write", r, seq)
		}
		want[w.key] = seq
	}
	if len(msgs) != len(want) {
		t.Fatalf("answer %d (up to %d): %d keys, want %d", r, upTo, len(msgs), len(want))
	}
	for _, m := range msgs {
		key := m.Subject[len("$KV.pit."):]
		if seq := want[key]; seq != m.Sequence || string(m.Data) != log[seq].value {
			t.Fatalf("answer %d (up to %d): %s=%q@%d, want %q@%d", r, upTo, key, m.Data, m.Sequence, log[seq].value, seq)
		}
	}
	return upTo
}

// TestLargeAnswer: a multi_last answer without max_bytes is streamed
// whole at the pace the client reads it, past the requester's
// max_pending (64 MiB) and past nats-server's 64 MiB max_bytes default:
// 80 values of 900 KB (72 MB) in one answer, the connection still up
// (before the answer was paced it was cut at 32 MiB). With max_bytes it
// is cut there, the end marker tells how many are left, and the client
// continues; a plain batch stops at 64 MiB of stored bytes, as
// nats-server's (cairn only: nats-server refuses multi_last answers of
// more than 1024 subjects, not large ones, but its buffer limits differ).
func TestLargeAnswer(t *testing.T) {
	const n = 80
	s := connect(t, "cairn", startCairn(t))
	if _, err := s.js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "large"}); err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 900_000)
	for i := 0; i < n; i++ {
		value[0] = byte(i)
		if _, err := s.js.Publish(context.Background(), fmt.Sprintf("$KV.large.k%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, msgs []*jetstream.RawStreamMsg) {
		t.Helper()
		for i, m := range msgs {
			if m.Sequence != uint64(i+1) || len(m.Data) != len(value) || m.Data[0] != byte(i) {
				t.Fatalf("%s: message %d: %s@%d (%d bytes)", what, i, m.Subject, m.Sequence, len(m.Data))
			}
		}
	}
	all, eob := page1(t, s, "KV_large", map[string]any{"multi_last": []string{"$KV.large.>"}})
	if len(all) != n || headerUint(t, eob, "Nats-Num-Pending") != 0 {
		t.Fatalf("whole answer: %d messages, end marker %v; want all %d", len(all), eob.Header, n)
	}
	check("whole answer", all)

	first, eob := page1(t, s, "KV_large", map[string]any{"multi_last": []string{"$KV.large.>"}, "max_bytes": 10_000_000})
	left := headerUint(t, eob, "Nats-Num-Pending")
	if len(first) == 0 || len(first) >= n || len(first)+int(left) != n {
		t.Fatalf("first answer: %d messages, %d left; want a cut answer of %d in all", len(first), left, n)
	}
	rest, eob := page1(t, s, "KV_large", map[string]any{
		"multi_last": []string{"$KV.large.>"},
		"up_to_seq":  headerUint(t, eob, "Nats-UpTo-Sequence"),
		"seq":        headerUint(t, eob, "Nats-Last-Sequence") + 1,
	})
	if len(rest) != int(left) || headerUint(t, eob, "Nats-Num-Pending") != 0 {
		t.Fatalf("second answer: %d messages, end marker %v; want %d", len(rest), eob.Header, left)
	}
	check("two answers", append(first, rest...))
	// A plain batch stops at 64 MiB of stored bytes.
	batch, eob := page1(t, s, "KV_large", map[string]any{"seq": 1, "batch": n})
	if len(batch) == 0 || len(batch) >= n || len(batch)*len(value) < 64<<20 || headerUint(t, eob, "Nats-Num-Pending") != uint64(n-len(batch)) {
		t.Fatalf("batch: %d messages, end marker %v; want a cut at 64 MiB", len(batch), eob.Header)
	}
	if !s.nc.IsConnected() {
		t.Fatal("the client was cut off")
	}
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
