package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/jsapi"
)

// batchOf returns n messages of size bytes on s.0 … s.<n-1>.
func batchOf(n, size int) []*nats.Msg {
	val := make([]byte, size)
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		msgs[i] = &nats.Msg{Subject: "s." + strconv.Itoa(i), Data: val, Header: nats.Header{}}
	}
	return msgs
}

// TestIssue13BatchAccountStorageLimit: an atomic batch cannot carry an
// account past its max_file by more than a single publish could (its
// last message). The staged messages were checked against the limit
// one by one before any was stored, so a 3 MiB batch was stored whole
// in an account limited to 1 MiB (and 256 MiB, the staging budget,
// would have been too).
func TestIssue13BatchAccountStorageLimit(t *testing.T) {
	tg := accountsTarget(t, func(c *daemon.Config) {
		c.Accounts[0].JetStream = &jsapi.AccountLimits{MaxMemory: -1, MaxFile: 1 << 20, MaxStreams: -1, MaxConsumers: -1}
	})
	_, js := newJSAs(t, tg.URL, nats.UserInfo("a", "a"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	// Refused while staged (10023 to the message past the limit, which
	// orbit.go does not wait for, then 10176 to the commit).
	_, err = jetstreamext.PublishMsgBatch(ctx, js, batchOf(30, 100<<10))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode != 10023 && apiErr.ErrorCode != 10176) {
		t.Fatalf("3 MiB batch in an account of 1 MiB: %v, want 10023 insufficient resources or 10176 incomplete", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("%d messages (%d bytes) stored by a refused batch", info.State.Msgs, info.State.Bytes)
	}
	// A batch within the limit, and one whose last message passes it
	// (as a single publish may), are stored.
	if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchOf(9, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchOf(2, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchOf(1, 100<<10)); !errors.As(err, &apiErr) || apiErr.ErrorCode != 10023 {
		t.Fatalf("batch past the limit: %v, want 10023", err)
	}
}

// TestIssue13BatchAckIsJSON: the commit's PubAck is JSON whatever the
// batch id holds. It was written with Go's quoting, whose \x01, \a and
// \xff escapes are not JSON: the batch was stored and the client could
// not read that it was (and might send it again).
func TestIssue13BatchAckIsJSON(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowAtomicPublish: true}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a\x01b", "bell\a", "del\x7f", "bad\xff", "tab\tin", `q"uote\`, "é✓"} {
		m := nats.NewMsg("s.x")
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", "1")
		m.Header.Set("Nats-Batch-Commit", "1")
		r, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var ack struct {
			Stream string `json:"stream"`
			Seq    uint64 `json:"seq"`
			Batch  string `json:"batch"`
			Count  int    `json:"count"`
		}
		if err := json.Unmarshal(r.Data, &ack); err != nil {
			t.Fatalf("batch id %q: ack %s is not JSON: %v", id, r.Data, err)
		}
		if want := strings.ToValidUTF8(id, "\uFFFD"); ack.Batch != want || ack.Count != 1 || ack.Seq == 0 {
			t.Fatalf("batch id %q: ack %s", id, r.Data)
		}
	}
}

// TestIssue13BatchStagingWithinAccountLimit: an account cannot stage
// more than its storage limit in open batches (they could never be
// stored), so an account with max_file 1 MiB cannot hold the server's
// staging budget and refuse every other account's batches with 10210
// until its own time out.
func TestIssue13BatchStagingWithinAccountLimit(t *testing.T) {
	tg := accountsTarget(t, func(c *daemon.Config) {
		c.Accounts[0].JetStream = &jsapi.AccountLimits{MaxMemory: -1, MaxFile: 1 << 20, MaxStreams: -1, MaxConsumers: -1}
		c.Batch.MaxBytes = 3 << 20
	})
	nca, jsa := newJSAs(t, tg.URL, nats.UserInfo("a", "a"))
	_, jsb := newJSAs(t, tg.URL, nats.UserInfo("b", "b"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, js := range []jetstream.JetStream{jsa, jsb} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowAtomicPublish: true}); err != nil {
			t.Fatal(err)
		}
	}
	// A opens batches of 100 KiB messages and never commits them.
	val := make([]byte, 100<<10)
	refused := ""
	for b := range 3 {
		for i := 1; i <= 10; i++ {
			m := nats.NewMsg("s.x")
			m.Data = val
			m.Header.Set("Nats-Batch-Id", "a"+strconv.Itoa(b))
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
			r, err := nca.RequestMsg(m, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Data) > 0 && refused == "" {
				refused = string(r.Data)
			}
		}
	}
	if !strings.Contains(refused, "10023") {
		t.Fatalf("staging 3 MiB in an account of 1 MiB: first refusal %q, want 10023", refused)
	}
	// B can still commit a batch of 1.5 MiB.
	if _, err := jetstreamext.PublishMsgBatch(ctx, jsb, batchOf(15, 100<<10)); err != nil {
		t.Fatalf("account B's batch while A stages: %v", err)
	}
}

// TestIssue13BatchServerStorageLimit: the server's max_file_store bounds
// a batch as the account limit does, checked when it commits.
func TestIssue13BatchServerStorageLimit(t *testing.T) {
	tg := startWith(t, daemon.Config{MaxFileStore: 1 << 20})
	_, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = jetstreamext.PublishMsgBatch(ctx, js, batchOf(30, 100<<10))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10023 {
		t.Fatalf("3 MiB batch in a server of 1 MiB: %v, want 10023 insufficient resources", err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("after a refused batch: %+v, %v", info.State, err)
	}
	if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchOf(10, 100<<10)); err != nil {
		t.Fatal(err)
	}
}
