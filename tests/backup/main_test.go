// Package backup tests backup and restore of KV buckets end to end:
// cairn-server processes on loopback ports, driven by natscli ("nats
// stream backup/restore", the .tools/nats binary) and by the cairn CLI
// ("cairn kv backup/restore", built from cmd/cairn), with nats.go to
// write the buckets and to read every stored message back for the
// comparisons.
package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testserver.RemoveBinaries()
	if cliBin.dir != "" {
		os.RemoveAll(cliBin.dir)
	}
	os.Exit(code)
}

// server is one cairn-server process with a client connection.
type server struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startServer runs cairn-server over a fresh store directory.
func startServer(t *testing.T) *server {
	t.Helper()
	p := testserver.StartCairnProcess(t, t.TempDir())
	nc, err := nats.Connect(p.URL, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", p.URL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return &server{url: p.URL, nc: nc, js: js}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var cliBin struct {
	once      sync.Once
	dir, path string
	err       error
}

// cairnCLI builds cmd/cairn once and returns its path.
func cairnCLI(t *testing.T) string {
	t.Helper()
	cliBin.once.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			cliBin.err = err
			return
		}
		if cliBin.dir, cliBin.err = os.MkdirTemp("", "cairn-cli-"); cliBin.err != nil {
			return
		}
		cliBin.path = filepath.Join(cliBin.dir, "cairn")
		build := exec.Command("go", "build", "-o", cliBin.path, "./cmd/cairn")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			cliBin.err = fmt.Errorf("building cmd/cairn: %v\n%s", err, out)
		}
	})
	if cliBin.err != nil {
		t.Fatal(cliBin.err)
	}
	return cliBin.path
}

// run runs a binary with args and returns its standard output, standard
// error and exit code; it fails t if the binary could not run or took
// longer than a minute.
func run(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String(), code
}

// mustRun is run for a command that must succeed.
func mustRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, bin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s%s", filepath.Base(bin), strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// natsCLI runs natscli against s.
func natsCLI(t *testing.T, s *server, args ...string) (string, string, int) {
	t.Helper()
	bin := testserver.MustTool(t, "nats")
	return run(t, bin, append([]string{"--server", s.url, "--no-context", "--timeout", "10s"}, args...)...)
}

// cairn runs the cairn CLI against s.
func cairn(t *testing.T, s *server, args ...string) (string, string, int) {
	t.Helper()
	return run(t, cairnCLI(t), append([]string{"--server", s.url, "--timeout", "10s"}, args...)...)
}

// storedMsg is one stored message as a client reads it.
type storedMsg struct {
	Seq     uint64
	Subject string
	Header  map[string][]string
	Data    string
	Time    time.Time
}

// dump reads every message of a stream in sequence order, with its
// state and configuration.
type dump struct {
	Config jetstream.StreamConfig
	State  jetstream.StreamState
	Msgs   []storedMsg
}

func dumpStream(t *testing.T, s *server, name string) dump {
	t.Helper()
	ctx := ctxT(t)
	str, err := s.js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := dump{Config: info.Config, State: info.State}
	if info.State.Msgs == 0 {
		return d
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("%s message %d: %v", name, seq, err)
		}
		// The headers a direct get adds are not stored.
		hdr := map[string][]string{}
		for k, v := range m.Header {
			switch k {
			case "Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp", "Nats-Num-Pending", "Nats-Last-Sequence":
			default:
				hdr[k] = v
			}
		}
		d.Msgs = append(d.Msgs, storedMsg{Seq: m.Sequence, Subject: m.Subject, Header: hdr, Data: string(m.Data), Time: m.Time})
	}
	if uint64(len(d.Msgs)) != info.State.Msgs {
		t.Fatalf("%s: read %d messages, state says %d", name, len(d.Msgs), info.State.Msgs)
	}
	return d
}

// sameStream fails t unless got is want restored, with subjects under
// prefix from renamed to prefix to (both "" when not renamed): the same
// messages, sequences, times and headers, state and configuration.
func sameStream(t *testing.T, got, want dump, from, to string) {
	t.Helper()
	if len(got.Msgs) != len(want.Msgs) {
		t.Fatalf("restored %d messages, want %d", len(got.Msgs), len(want.Msgs))
	}
	for i, w := range want.Msgs {
		g := got.Msgs[i]
		w.Subject = to + strings.TrimPrefix(w.Subject, from)
		if !g.Time.Equal(w.Time) {
			t.Fatalf("message %d: time %v, want %v", w.Seq, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", w.Seq, g, w)
		}
	}
	gs, ws := got.State, want.State
	// A message's size counts its subject.
	ws.Bytes = uint64(int64(ws.Bytes) + int64(ws.Msgs)*int64(len(to)-len(from)))
	if gs.Msgs != ws.Msgs || gs.Bytes != ws.Bytes || gs.FirstSeq != ws.FirstSeq || gs.LastSeq != ws.LastSeq ||
		!gs.LastTime.Equal(ws.LastTime) || gs.NumSubjects != ws.NumSubjects || gs.NumDeleted != ws.NumDeleted {
		t.Fatalf("state\n got %+v\nwant %+v", gs, ws)
	}
	gc, wc := got.Config, want.Config
	gc.Name, wc.Name = "", ""
	gc.Subjects, wc.Subjects = nil, nil
	if !reflect.DeepEqual(gc, wc) {
		t.Fatalf("config\n got %+v\nwant %+v", gc, wc)
	}
}

// fillBucket makes a bucket with history, deletes, a purge, a max age
// and per-message TTLs, and returns its stream's name.
func fillBucket(t *testing.T, s *server, bucket string) string {
	t.Helper()
	ctx := ctxT(t)
	kv, err := s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, History: 5, TTL: time.Hour, LimitMarkerTTL: time.Minute, Description: "backup test",
	})
	if err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
	for i := range 30 {
		if _, err := kv.PutString(ctx, fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "ttl", []byte("expires in an hour"), jetstream.KeyTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "dir.sub.key", "nested"); err != nil {
		t.Fatal(err)
	}
	return "KV_" + bucket
}

// keys returns a bucket's keys and their latest values and revisions.
func keys(t *testing.T, s *server, bucket string) map[string]string {
	t.Helper()
	ctx := ctxT(t)
	kv, err := s.js.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", bucket, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
		out[k] = fmt.Sprintf("%s@%d", e.Value(), e.Revision())
	}
	return out
}

// streamNames lists the streams of s.
func streamNames(t *testing.T, s *server) []string {
	t.Helper()
	var names []string
	lister := s.js.StreamNames(ctxT(t))
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}
