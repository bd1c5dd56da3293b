package hostile

import (
	"context"
	"errors"
	"strconv"
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
	_, err = jetstreamext.PublishMsgBatch(ctx, js, batchOf(30, 100<<10))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10023 {
		t.Fatalf("3 MiB batch in an account of 1 MiB: %v, want 10023 insufficient resources", err)
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
