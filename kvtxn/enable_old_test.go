package kvtxn_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/kvtxn"
)

// TestEnableOnServerWithoutAtomic: a server that does not know
// allow_atomic (nats-server before 2.12) accepts the stream update and
// drops the field; EnableTransactions says so instead of reporting
// success. The old server is played by handlers answering the two
// requests with a configuration that lacks the field.
func TestEnableOnServerWithoutAtomic(t *testing.T) {
	d, err := daemon.Start(daemon.Config{Server: server.Options{Host: "127.0.0.1", Port: -1}, DisableKV: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const info = `{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"KV_old","subjects":["$KV.old.>"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":1,"max_msg_size":-1,"discard":"new","storage":"file","num_replicas":1,"duplicate_window":120000000000,"allow_direct":true,"deny_delete":true,"allow_rollup_hdrs":true},"created":"2026-01-01T00:00:00Z","state":{"messages":0,"bytes":0,"first_seq":0,"last_seq":0,"consumer_count":0}}`
	for _, subj := range []string{"$JS.API.STREAM.INFO.KV_old", "$JS.API.STREAM.UPDATE.KV_old"} {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { _ = m.Respond([]byte(info)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	js := connect(t, d.ClientURL())
	if err := kvtxn.EnableTransactions(testContext(t), js, "old"); !errors.Is(err, kvtxn.ErrAtomicUnsupported) {
		t.Fatalf("EnableTransactions on an old server: %v, want ErrAtomicUnsupported", err)
	}
}
