package server_test

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// rawConn is a plain TCP client for bad-input tests.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t testing.TB, s *server.Server) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	info := rc.line(time.Second)
	if !strings.HasPrefix(info, "INFO {") {
		t.Fatalf("first line %q", info)
	}
	return rc
}

func (rc *rawConn) send(s string) {
	if _, err := rc.conn.Write([]byte(s)); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) line(timeout time.Duration) string {
	rc.conn.SetReadDeadline(time.Now().Add(timeout))
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

// readAll reads until the server closes ("<EOF>") or stays quiet for
// 300ms ("<open>"), like the probes that recorded nats-server's answers.
func (rc *rawConn) readAll() string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		rc.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := rc.r.Read(buf)
		b.Write(buf[:n])
		if err == io.EOF {
			return b.String() + "<EOF>"
		}
		if err != nil {
			return b.String() + "<open>"
		}
	}
}

// TestBadInput replays raw protocol exchanges whose answers were recorded
// from nats-server v2.15.2 with the same input.
func TestBadInput(t *testing.T) {
	const c = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n"
	const nr = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"
	cases := []struct{ name, in, want string }{
		{"ping before connect", "PING\r\n", "PONG\r\n<open>"},
		{"verbose by default", "PUB foo 2\r\nhi\r\nPING\r\n", "+OK\r\nPONG\r\n<open>"},
		{"unknown op", c + "FOO\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"pub missing size", c + "PUB foo\r\nPING\r\n", "<EOF>"},
		{"pub bad size", c + "PUB foo x\r\nPING\r\n", "<EOF>"},
		{"pub negative size", c + "PUB foo -1\r\nPING\r\n", "<EOF>"},
		{"pub short payload", c + "PUB foo 3\r\nhi\r\nPING\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"pub long payload", c + "PUB foo 2\r\nhello\r\nPING\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"pub wildcard subject", c + "PUB foo.* 2\r\nhi\r\nPING\r\n", "PONG\r\n<open>"},
		{"pub empty token", c + "PUB foo..bar 2\r\nhi\r\nPING\r\n", "PONG\r\n<open>"},
		{"pub too many args", c + "PUB a b c d 2\r\nhi\r\nPING\r\n", "<EOF>"},
		{"sub invalid subject", c + "SUB foo..bar 1\r\nPING\r\n", "-ERR 'Invalid Subject'\r\nPONG\r\n<open>"},
		{"sub missing sid", c + "SUB foo\r\nPING\r\n", "<EOF>"},
		{"sub too many args", c + "SUB a b c d\r\nPING\r\n", "<EOF>"},
		{"unsub no args", c + "UNSUB\r\nPING\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"unsub bad max", c + "UNSUB 1 x\r\nPING\r\n", "PONG\r\n<open>"},
		{"unsub unknown sid", c + "UNSUB 99\r\nPING\r\n", "PONG\r\n<open>"},
		{"payload too big", c + "PUB foo 2000000\r\n", "-ERR 'Maximum Payload Violation'\r\n<EOF>"},
		{"control line too long", c + "PUB foo " + strings.Repeat("x", 5000) + " 2\r\nhi\r\n", "-ERR 'maximum control line exceeded'\r\n<EOF>"},
		{"hpub header larger than total", c + "HPUB foo 12 10\r\nNATS/1.0\r\n\r\n\r\n", "<EOF>"},
		{"hpub odd header", c + "HPUB foo 5 7\r\nabcdefg\r\nPING\r\n", "PONG\r\n<open>"},
		{"connect bad json", "CONNECT {bad json\r\nPING\r\n", "<EOF>"},
		{"verbose", "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n<open>"},
		{"pedantic wildcard pub", "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nPUB foo.* 2\r\nhi\r\nPING\r\n", "-ERR 'Invalid Publish Subject'\r\nPONG\r\n<open>"},
		{"pedantic by default", "CONNECT {\"verbose\":false}\r\nPUB foo.* 2\r\nhi\r\nPING\r\n", "-ERR 'Invalid Publish Subject'\r\nPONG\r\n<open>"},
		{"no responders", "CONNECT {\"headers\":true,\"no_responders\":true}\r\nSUB _I.* 1\r\nPUB nobody _I.x 2\r\nhi\r\nPING\r\n",
			"+OK\r\n+OK\r\n+OK\r\nHMSG _I.x 1 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n<open>"},
		{"hpub without headers", "CONNECT {\"headers\":false,\"no_responders\":false}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n", "+OK\r\n<EOF>"},
		{"lower case", c + "sub foo 1\r\npub foo 2\r\nhi\r\nping\r\n", "MSG foo 1 2\r\nhi\r\nPONG\r\n<open>"},
		{"LF only", "PING\n", "PONG\r\n<open>"},
		{"tabs and spaces", c + "PUB\tfoo   2\r\nhi\r\nPING\r\n", "PONG\r\n<open>"},
		{"unsub max", c + "SUB foo 1\r\nUNSUB 1 2\r\nPUB foo 2\r\nhi\r\nPUB foo 2\r\nhi\r\nPUB foo 2\r\nhi\r\nPING\r\n", "MSG foo 1 2\r\nhi\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n<open>"},
		{"echo off", "CONNECT {\"verbose\":false,\"pedantic\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", "PONG\r\n<open>"},
		{"duplicate sid", c + "SUB foo 1\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nPING\r\n", "MSG foo 1 2\r\nhi\r\nPONG\r\n<open>"},
		{"bad protocol version", "CONNECT {\"verbose\":false,\"protocol\":5}\r\nPING\r\n", "-ERR 'invalid client protocol'\r\n<EOF>"},
		{"hpub with headers off", "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nHPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n", "<EOF>"},
		{"header stripped for old client", "CONNECT {\"verbose\":false,\"headers\":false}\r\nSUB foo 1\r\nPING\r\n", "PONG\r\n<open>"},
		{"empty payload", c + "PUB foo 0\r\n\r\nSUB foo 1\r\nPUB foo 0\r\n\r\nPING\r\n", "MSG foo 1 0\r\n\r\nPONG\r\n<open>"},
		{"repeated connect keeps options", c + "CONNECT {}\r\nPING\r\n", "PONG\r\n<open>"},
		{"client sends INFO and +OK", c + "INFO {}\r\n+OK\r\nPING\r\n", "PONG\r\n<open>"},
		{"client sends MSG", c + "MSG foo 1 2\r\nhi\r\nPING\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		{"binary garbage", "\x00\x01\x02\xff\r\n", "-ERR 'Unknown Protocol Operation'\r\n<EOF>"},
		// A subject with an empty token matches nothing, so a request to
		// it gets no-responders at once; other malformed subjects are
		// routed as literal tokens; the reply subject is not checked.
		{"request to empty token", nr + "SUB r 1\r\nPUB foo..bar r 2\r\nhi\r\nPING\r\n",
			"HMSG r 1 40 40\r\nNATS/1.0 503\r\nNats-Subject: foo..bar\r\n\r\n\r\nPONG\r\n<open>"},
		{"request to trailing dot", nr + "SUB r 1\r\nHPUB foo. r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n",
			"HMSG r 1 36 36\r\nNATS/1.0 503\r\nNats-Subject: foo.\r\n\r\n\r\nPONG\r\n<open>"},
		{"request to leading dot", nr + "SUB r 1\r\nPUB .foo r 2\r\nhi\r\nPING\r\n",
			"HMSG r 1 36 36\r\nNATS/1.0 503\r\nNats-Subject: .foo\r\n\r\n\r\nPONG\r\n<open>"},
		{"full wildcard and malformed subjects", c + "SUB > 1\r\nPUB foo..bar 2\r\nhi\r\nPUB foo.>.bar 2\r\nhi\r\nPUB a\x01b 2\r\nhi\r\nPING\r\n",
			"MSG foo.>.bar 1 2\r\nhi\r\nMSG a\x01b 1 2\r\nhi\r\nPONG\r\n<open>"},
		{"pedantic answers and still routes", "CONNECT {\"verbose\":true,\"pedantic\":true,\"headers\":true,\"no_responders\":true}\r\nPUB foo..bar r 2\r\nhi\r\nPING\r\n",
			"+OK\r\n-ERR 'Invalid Publish Subject'\r\n+OK\r\nPONG\r\n<open>"},
		{"reply not checked", c + "SUB foo 1\r\nPUB foo bad..reply 2\r\nhi\r\nPING\r\n", "MSG foo 1 bad..reply 2\r\nhi\r\nPONG\r\n<open>"},
	}
	s := startServer(t, server.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, s)
			rc.send(tc.in)
			if got := rc.readAll(); got != tc.want {
				t.Fatalf("\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	// The server is still healthy after all of that.
	rc := dialRaw(t, s)
	rc.send("PING\r\n")
	if l := rc.line(time.Second); l != "PONG\r\n" {
		t.Fatalf("after bad input: %q", l)
	}
}

func TestHeadersStrippedForClientsWithoutHeaders(t *testing.T) {
	s := startServer(t, server.Options{})
	old := dialRaw(t, s)
	old.send("CONNECT {\"verbose\":false,\"headers\":false}\r\nSUB foo 1\r\nPING\r\n")
	old.line(time.Second)
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB foo 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nPING\r\n")
	pub.line(time.Second)
	if got := old.line(time.Second) + old.line(time.Second); got != "MSG foo 1 2\r\nhi\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestStaleConnection(t *testing.T) {
	s := startServer(t, server.Options{PingInterval: 30 * time.Millisecond, MaxPingsOut: 2})
	rc := dialRaw(t, s)
	rc.send("CONNECT {\"verbose\":false}\r\n")
	// A client that never answers PING gets MaxPingsOut pings, then the
	// stale-connection error and the close.
	got := ""
	for i := 0; i < 3; i++ {
		got += rc.line(2 * time.Second)
	}
	if got != "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n" {
		t.Fatalf("got %q", got)
	}
	if rest := rc.readAll(); rest != "<EOF>" {
		t.Fatalf("after stale: %q", rest)
	}
	// A client that answers stays connected.
	ok := dialRaw(t, s)
	ok.send("CONNECT {\"verbose\":false}\r\n")
	for i := 0; i < 5; i++ {
		if l := ok.line(2 * time.Second); l != "PING\r\n" {
			t.Fatalf("got %q", l)
		}
		ok.send("PONG\r\n")
	}
}

func TestSlowConsumer(t *testing.T) {
	s := startServer(t, server.Options{MaxPending: 256 * 1024, MaxPayload: 64 * 1024})
	// The slow client subscribes and never reads.
	slow, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if tc, ok := slow.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	slow.Write([]byte("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n"))
	healthy := dialRaw(t, s)
	healthy.send("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\nPING\r\n")
	healthy.line(time.Second)
	waitFor(t, func() bool { return s.NumSubscriptions() == 2 })

	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	payload := strings.Repeat("x", 8192)
	msg := "PUB flood " + strconv.Itoa(len(payload)) + "\r\n" + payload + "\r\n"
	// Send until the slow client is gone (bounded), while the healthy
	// client keeps reading.
	var got atomic.Int64
	healthy.conn.SetReadDeadline(time.Time{})
	go func() {
		for {
			l, err := healthy.r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(l, "MSG") {
				got.Add(1)
			}
		}
	}()
	sent := 0
	for i := 0; i < 5000 && s.NumClients() == 3; i++ {
		pub.send(msg)
		sent++
	}
	if s.NumClients() != 2 {
		t.Fatalf("slow consumer not disconnected after %d messages", sent)
	}
	// The healthy subscriber receives everything that was sent.
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() != int64(sent) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.Load() != int64(sent) {
		t.Fatalf("healthy client got %d of %d", got.Load(), sent)
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWriteDeadline(t *testing.T) {
	logs := &logBuffer{}
	s := startServer(t, server.Options{
		WriteDeadline: 100 * time.Millisecond,
		Logger:        server.NewLogger(logs, false, false),
	})
	pub := stuckSubscriber(t, s)
	msg := floodMsg(8192)
	// The socket buffers fill long before MaxPending (64 MiB): the stuck
	// client's writer then blocks and the write deadline cuts it off.
	for i := 0; i < 4000 && s.NumClients() == 2; i++ {
		pub.send(msg)
	}
	waitFor(t, func() bool { return s.NumClients() == 1 })
	if !strings.Contains(logs.String(), "Slow Consumer Detected: WriteDeadline of 100ms exceeded") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// TestStuckSubscriberDoesNotHoldPublisher: a subscriber that stopped
// reading must not stall the publisher's own traffic for the write
// deadline; the publisher's PING is answered promptly.
func TestStuckSubscriberDoesNotHoldPublisher(t *testing.T) {
	s := startServer(t, server.Options{WriteDeadline: 5 * time.Second})
	pub := stuckSubscriber(t, s)
	msg := floodMsg(4096)
	// Enough to fill the stuck subscriber's socket buffers several times.
	for i := 0; i < 3000; i++ {
		pub.send(msg)
	}
	start := time.Now()
	pub.send("PING\r\n")
	if l := pub.line(10 * time.Second); l != "PONG\r\n" {
		t.Fatalf("got %q", l)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("PONG took %v: the publisher was held by the stuck subscriber", d)
	}
}

// stuckSubscriber connects a client that subscribes to "flood" with a tiny
// socket receive buffer and never reads, and returns a connected
// publisher.
func stuckSubscriber(t *testing.T, s *server.Server) *rawConn {
	t.Helper()
	stuck, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stuck.Close() })
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	stuck.Write([]byte("CONNECT {\"verbose\":false}\r\nSUB flood 1\r\n"))
	waitFor(t, func() bool { return s.NumSubscriptions() == 1 })
	pub := dialRaw(t, s)
	pub.send("CONNECT {\"verbose\":false}\r\n")
	return pub
}

// floodMsg is a PUB to "flood" with a payload of size bytes.
func floodMsg(size int) string {
	return "PUB flood " + strconv.Itoa(size) + "\r\n" + strings.Repeat("x", size) + "\r\n"
}
