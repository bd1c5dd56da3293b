package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// writer puts unique keys into a bucket through its own connection
// until stopped, and remembers every put the server acknowledged.
type writer struct {
	id    int
	nc    *nats.Conn
	pace  time.Duration // pause between two puts, to bound the keys checked
	ldm   atomic.Int32  // lame duck INFOs nats.go reported
	acked atomic.Int64
	mu    sync.Mutex
	keys  map[string]string // acknowledged key -> value
}

func startWriter(t *testing.T, id int, urls string, opts ...nats.Option) *writer {
	t.Helper()
	w := &writer{id: id, keys: map[string]string{}}
	opts = append(opts, nats.LameDuckModeHandler(func(*nats.Conn) { w.ldm.Add(1) }))
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w.nc = nc
	return w
}

// run puts keys until stop is closed, or until a put fails when
// stopOnError (the server went away for good).
func (w *writer) run(t *testing.T, bucket string, stop <-chan struct{}, stopOnError bool, wg *sync.WaitGroup) {
	defer wg.Done()
	js, err := jetstream.New(w.nc)
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	kv, err := js.KeyValue(ctx, bucket)
	cancel()
	if err != nil {
		t.Error(err)
		return
	}
	for n := 0; n < 1_000_000; n++ {
		select {
		case <-stop:
			return
		default:
		}
		key, val := keyName(w.id, n), "v"+strconv.Itoa(n)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := kv.Put(ctx, key, []byte(val))
		cancel()
		if err != nil {
			if stopOnError && (errors.Is(err, nats.ErrConnectionClosed) || !w.nc.IsConnected()) {
				return
			}
			continue // not acknowledged: may or may not be stored
		}
		w.mu.Lock()
		w.keys[key] = val
		w.mu.Unlock()
		w.acked.Add(1)
		if w.pace > 0 {
			select {
			case <-stop:
				return
			case <-time.After(w.pace):
			}
		}
	}
}

// waitAcked waits until every writer has min more acknowledged puts than
// from, within 20s.
func waitAcked(t *testing.T, ws []*writer, from []int64, min int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i, w := range ws {
		for w.acked.Load() < from[i]+min {
			if time.Now().After(deadline) {
				t.Fatalf("writer %d: %d acknowledged puts, want %d", i, w.acked.Load(), from[i]+min)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func ackedCounts(ws []*writer) []int64 {
	out := make([]int64, len(ws))
	for i, w := range ws {
		out[i] = w.acked.Load()
	}
	return out
}

// rawLDMClient is a protocol 1 client of url that expects an INFO with
// ldm: true once lame duck mode begins.
func rawLDMClient(t *testing.T, url string) func(time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := bufio.NewReader(conn)
	line := func(d time.Duration) string {
		_ = conn.SetReadDeadline(time.Now().Add(d))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("raw client: %v (got %q)", err, l)
		}
		return l
	}
	if l := line(2 * time.Second); !strings.HasPrefix(l, "INFO ") {
		t.Fatalf("raw client: first line %q", l)
	}
	if _, err := conn.Write([]byte("CONNECT {\"protocol\":1,\"verbose\":false}\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := line(2 * time.Second); l != "PONG\r\n" {
		t.Fatalf("raw client: %q, want PONG", l)
	}
	return func(d time.Duration) {
		t.Helper()
		l := line(d)
		var info map[string]any
		if !strings.HasPrefix(l, "INFO ") || json.Unmarshal([]byte(strings.TrimSpace(l[5:])), &info) != nil || info["ldm"] != true {
			t.Fatalf("raw client: got %q, want INFO with \"ldm\":true", l)
		}
	}
}

// TestLameDuckClientsMoveToSecondServer: two cairn-servers; nats.go
// clients given both URLs write to the first. Lame duck mode on the
// first (SIGUSR2, or --signal ldm with its pid file) sends INFO ldm:true,
// moves every client to the second within lame_duck_duration, and ends
// in exit 0; no acknowledged write is lost on either server.
func TestLameDuckClientsMoveToSecondServer(t *testing.T) {
	for _, how := range []string{"SIGUSR2", "signal ldm"} {
		t.Run(how, func(t *testing.T) { testLameDuckMove(t, how) })
	}
}

func testLameDuckMove(t *testing.T, how string) {
	const (
		duration = 30 * time.Second // nats-server's minimum
		grace    = time.Second
		clients  = 4
		bucket   = "ldm"
	)
	dir := t.TempDir()
	conf := writeConf(t, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n")
	pidFile := filepath.Join(dir, "a.pid")
	dirA, dirB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	a := startProc(t, "", "-sd", dirA, "-c", conf, "-P", pidFile)
	b := startProc(t, "", "-sd", dirB)
	kvBucket(t, a.URL, bucket)
	kvBucket(t, b.URL, bucket)
	expectLDM := rawLDMClient(t, a.URL)

	ws := make([]*writer, clients)
	for i := range ws {
		ws[i] = startWriter(t, i, a.URL+","+b.URL, nats.DontRandomize(),
			nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1), nats.ReconnectJitter(0, 0))
		ws[i].pace = 5 * time.Millisecond
		if got := ws[i].nc.ConnectedUrl(); got != a.URL {
			t.Fatalf("writer %d on %s, want the first server %s", i, got, a.URL)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go w.run(t, bucket, stop, false, &wg)
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitAcked(t, ws, make([]int64, clients), 20)

	start := time.Now()
	if how == "SIGUSR2" {
		a.signal(t, syscall.SIGUSR2)
	} else if code, stderr := signalCmd(t, "--signal", "ldm="+pidFile); code != 0 {
		t.Fatalf("--signal ldm: exit %d: %s", code, stderr)
	}
	expectLDM(3 * time.Second)
	if code := a.wait(t, duration+grace+15*time.Second); code != 0 {
		t.Fatalf("first server exited with %d", code)
	}
	took := time.Since(start)
	t.Logf("lame duck mode over %d clients took %v", clients+1, took)
	if took < grace {
		t.Errorf("exited after %v, before the grace period", took)
	}
	log := a.out.String()
	for _, want := range []string{`Trapped "user defined signal 2" signal`, "Entering lame duck mode, stop accepting new clients",
		"Closing existing clients", "Initiating Shutdown...", "Server Exiting.."} {
		if !strings.Contains(log, want) {
			t.Errorf("first server's log lacks %q", want)
		}
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}

	// Every client is on the second server and writes there.
	deadline := time.Now().Add(10 * time.Second)
	for i, w := range ws {
		for w.nc.ConnectedUrl() != b.URL {
			if time.Now().After(deadline) {
				t.Fatalf("writer %d on %q, want %s", i, w.nc.ConnectedUrl(), b.URL)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if w.ldm.Load() == 0 {
			t.Errorf("writer %d: nats.go saw no lame duck INFO", i)
		}
	}
	waitAcked(t, ws, ackedCounts(ws), 20)
	close(stop)
	wg.Wait()

	// Every acknowledged write is on the server that acknowledged it:
	// the first, restarted over its store, or the second.
	a2 := startProc(t, "", "-sd", dirA)
	_, kvA := kvBucket(t, a2.URL, bucket)
	_, kvB := kvBucket(t, b.URL, bucket)
	onA, onB := map[string]string{}, map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range ws {
		for k, v := range w.keys {
			if _, err := kvB.Get(ctx, k); err == nil {
				onB[k] = v
			} else {
				onA[k] = v
			}
		}
	}
	nA, nB := checkKeys(t, kvA, onA), checkKeys(t, kvB, onB)
	t.Logf("acknowledged writes: %d on the first server, %d on the second", nA, nB)
	if nA == 0 || nB == 0 {
		t.Errorf("writes on the first %d, on the second %d: want both", nA, nB)
	}
}

// TestSIGTERMKeepsAcknowledgedWrites: writers put keys as fast as they
// can while SIGTERM stops the server; it exits 0, and after a restart
// every write it acknowledged is there.
func TestSIGTERMKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "", "-sd", dir)
	kvBucket(t, p.URL, "term")
	ws := make([]*writer, 4)
	for i := range ws {
		ws[i] = startWriter(t, i, p.URL, nats.NoReconnect())
	}
	stop := make(chan struct{})
	defer close(stop)
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go w.run(t, "term", stop, true, &wg)
	}
	waitAcked(t, ws, make([]int64, len(ws)), 50)
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	t.Logf("stopped in %v", time.Since(start))
	wg.Wait()
	if !strings.Contains(p.out.String(), "Server Exiting..") {
		t.Errorf("log lacks Server Exiting..:\n%s", p.out.String())
	}
	p2 := startProc(t, "", "-sd", dir)
	_, kv := kvBucket(t, p2.URL, "term")
	want := map[string]string{}
	for _, w := range ws {
		for k, v := range w.keys {
			want[k] = v
		}
	}
	if n := checkKeys(t, kv, want); n != len(want) || n < 200 {
		t.Fatalf("%d of %d acknowledged writes found", n, len(want))
	}
}

// TestLameDuckInProcess runs cairn-server in the test process (so the
// race detector sees its signal loop): SIGUSR2 with a client connected
// ends in run returning 0 after the grace period, a SIGTERM in between
// being ignored.
func TestLameDuckInProcess(t *testing.T) {
	out := &syncBuffer{}
	conf := writeConf(t, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n")
	code := make(chan int, 1)
	go func() { code <- run([]string{"-p", "-1", "-sd", t.TempDir(), "-c", conf}, out) }()
	var url string
	waitFor(t, func() bool {
		m := listenRE.FindStringSubmatch(out.String())
		if m != nil {
			url = "nats://" + m[1]
		}
		return m != nil && strings.Contains(out.String(), "Client URL")
	}, "listening line")
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "Entering lame duck mode") }, "lame duck line")
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), `Trapped "terminated" signal`) }, "SIGTERM line")
	if err := nc.Flush(); err != nil {
		t.Fatalf("client cut off during the grace period (SIGTERM not ignored?): %v", err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d:\n%s", c, out)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running:\n%s", out)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("stopped after %v, within the grace period", el)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed")
	}
}
