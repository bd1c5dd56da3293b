// Package batchget tests the batch direct get of ADR-31 (issue 13,
// point 2) through the clients that use it: orbit.go's jetstreamext
// GetBatch and GetLastMsgsFor, and raw requests where orbit.go has no
// option (no_hdr, seq with multi_last, malformed requests). Every
// scenario runs against cairn-server and against the nats-server peer
// (internal/testserver), and the two transcripts must be equal; where
// Cairn differs on purpose (more than 1024 subjects) the test says so
// and checks each side on its own.
package batchget

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { testserver.RunMain(m) }

// side is one server under test with a client connected to it.
type side struct {
	name string
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startCairn starts an in-process cairn daemon on a loopback port.
func startCairn(t testing.TB) string {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		StoreDir: t.TempDir(),
		Server: server.Options{
			Host: "127.0.0.1", Port: -1,
			Logger: server.NewLogger(io.Discard, false, false),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d.ClientURL()
}

func connect(t testing.TB, name, url string) *side {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &side{name: name, nc: nc, js: js}
}

// bothSides starts the peer and cairn.
func bothSides(t testing.TB) []*side {
	t.Helper()
	return []*side{
		connect(t, "nats-server", testserver.StartPeer(t).URL),
		connect(t, "cairn", startCairn(t)),
	}
}

// compare runs scenario on every side and requires equal transcripts;
// it returns cairn's.
func compare(t *testing.T, sides []*side, scenario func(t *testing.T, s *side) []string) []string {
	t.Helper()
	var want, got []string
	for i, s := range sides {
		tr := scenario(t, s)
		if i == 0 {
			want = tr
			continue
		}
		got = tr
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcripts differ\n--- nats-server:\n%s\n--- cairn:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	return got
}

// render shows a message without what legitimately differs between two
// servers (the time stamp): status, headers sorted, then the payload.
func render(m *nats.Msg) string {
	var b strings.Builder
	keys := make([]string, 0, len(m.Header))
	for k := range m.Header {
		if k != "Nats-Time-Stamp" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s; ", k, strings.Join(m.Header[k], ","))
	}
	fmt.Fprintf(&b, "%q", m.Data)
	return b.String()
}

// raw sends body to the stream's DIRECT.GET subject and returns every
// answer up to the end marker (a status message), or "no answer".
func raw(t testing.TB, s *side, stream, body string) []string {
	t.Helper()
	sub, err := s.nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, sub.Subject, []byte(body)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for len(out) < 100000 {
		m, err := sub.NextMsg(3 * time.Second)
		if err != nil {
			return append(out, "no answer")
		}
		out = append(out, render(m))
		if m.Header.Get("Status") != "" {
			return out
		}
	}
	return append(out, "too many answers")
}

// orbit renders what an orbit.go iterator yields: each message's
// subject, sequence, payload and batch headers, then its error if any.
func orbit(msgs func(func(*jetstream.RawStreamMsg, error) bool), err error) []string {
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	msgs(func(m *jetstream.RawStreamMsg, err error) bool {
		if err != nil {
			out = append(out, "error: "+err.Error())
			return false
		}
		out = append(out, fmt.Sprintf("%s@%d %q pending=%s last=%s", m.Subject, m.Sequence, m.Data,
			m.Header.Get("Nats-Num-Pending"), m.Header.Get("Nats-Last-Sequence")))
		return true
	})
	return out
}

// getBatch is orbit.go's GetBatch rendered.
func getBatch(s *side, stream string, batch int, opts ...jetstreamext.GetBatchOpt) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it, err := jetstreamext.GetBatch(ctx, s.js, stream, batch, opts...)
	return orbit(it, err)
}

// getLast is orbit.go's GetLastMsgsFor rendered.
func getLast(s *side, stream string, subjects []string, opts ...jetstreamext.GetLastForOpt) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it, err := jetstreamext.GetLastMsgsFor(ctx, s.js, stream, subjects, opts...)
	return orbit(it, err)
}

// label prefixes every line of lines with what produced them.
func label(what string, lines []string) []string {
	out := make([]string, 0, len(lines)+1)
	out = append(out, "# "+what)
	return append(out, lines...)
}

// msgTime returns the stored time of message seq of stream on s.
func msgTime(t testing.TB, s *side, stream string, seq uint64) time.Time {
	t.Helper()
	st, err := s.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatalf("%s: get %d: %v", s.name, seq, err)
	}
	return m.Time
}

// publish stores data on subj and fails t on error.
func publish(t testing.TB, s *side, subj, data string, hdr ...string) uint64 {
	t.Helper()
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	for i := 0; i+1 < len(hdr); i += 2 {
		m.Header.Set(hdr[i], hdr[i+1])
	}
	ack, err := s.js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatalf("%s: publish %s: %v", s.name, subj, err)
	}
	return ack.Sequence
}
