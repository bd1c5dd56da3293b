package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestWireReaderFrames(t *testing.T) {
	tests := []struct {
		in      string
		kind    frameKind
		subject string
		sid     int
		reply   string
		hdrLen  int
		size    int
		wantErr bool
	}{
		{in: "MSG a.b 1 5\r\n", kind: frameMsg, subject: "a.b", sid: 1, size: 5},
		{in: "MSG a.b 12 r.x 5\r\n", kind: frameMsg, subject: "a.b", sid: 12, reply: "r.x", size: 5},
		{in: "msg\ta.b  2\t0\r\n", kind: frameMsg, subject: "a.b", sid: 2},
		{in: "HMSG a 1 12 20\r\n", kind: frameMsg, subject: "a", sid: 1, hdrLen: 12, size: 20},
		{in: "HMSG a 1 r 12 20\r\n", kind: frameMsg, subject: "a", sid: 1, reply: "r", hdrLen: 12, size: 20},
		{in: "PING\r\n", kind: framePing},
		{in: "PONG\r\n", kind: framePong},
		{in: "+OK\r\n", kind: frameOK},
		{in: "-ERR 'Authorization Violation'\r\n", kind: frameErr},
		{in: "MSG a 1\r\n", wantErr: true},
		{in: "MSG a 1 r x 5\r\n", wantErr: true},
		{in: "MSG a 1 -5\r\n", wantErr: true},
		{in: "HMSG a 1 30 20\r\n", wantErr: true},
		{in: "HMSG a 1 r 1 2 3\r\n", wantErr: true},
		{in: "WHAT\r\n", wantErr: true},
	}
	for _, tc := range tests {
		w := newWireReader(strings.NewReader(tc.in))
		f, err := w.next()
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if f.kind != tc.kind || f.sid != tc.sid || string(f.reply) != tc.reply || f.hdrLen != tc.hdrLen || f.size != tc.size {
			t.Errorf("%q: got kind %d sid %d reply %q hdr %d size %d", tc.in, f.kind, f.sid, f.reply, f.hdrLen, f.size)
		}
		if f.kind == frameMsg && string(f.subject) != tc.subject {
			t.Errorf("%q: subject %q", tc.in, f.subject)
		}
	}
}

func TestStatusAndHeaders(t *testing.T) {
	hdr := []byte("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\nNats-Consumer-Stalled: $JSC.FC.x\r\n\r\n")
	if got := statusOf(hdr); got != 100 {
		t.Errorf("status %d", got)
	}
	if got := string(headerValue(hdr, "nats-consumer-stalled")); got != "$JSC.FC.x" {
		t.Errorf("stalled %q", got)
	}
	if got := statusOf([]byte("NATS/1.0\r\nA: b\r\n\r\n")); got != 0 {
		t.Errorf("status of a plain header %d", got)
	}
}

// TestLeanWatchAgainstScript runs the lean watcher against a scripted
// server that writes one byte at a time, so that every read splits
// somewhere: entries as MSG and HMSG (one empty), a flow control
// request, a ping, and the create reply arriving after some entries.
func TestLeanWatchAgainstScript(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() { done <- scriptedServer(ln) }()
	d, err := leanWatch("nats://"+ln.Addr().String(), "b", 3, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatalf("%v (server script: %v)", err, <-done)
	}
	if d <= 0 {
		t.Errorf("elapsed %v", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func scriptedServer(ln net.Listener) error {
	conn, err := ln.Accept()
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) (string, error) {
		for l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		}
		return "", fmt.Errorf("connection closed before %q", prefix)
	}
	slow := func(s string) error {
		for i := range len(s) {
			if _, err := conn.Write([]byte{s[i]}); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := conn.Write([]byte(`INFO {"headers":true}` + "\r\n")); err != nil {
		return err
	}
	if _, err := expect("PING"); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PONG\r\n")); err != nil {
		return err
	}
	sub, err := expect("SUB ")
	if err != nil {
		return err
	}
	deliver := strings.Fields(sub)[1]
	pub, err := expect("PUB $JS.API.CONSUMER.CREATE.KV_b.")
	if err != nil {
		return err
	}
	reply := strings.Fields(pub)[2]
	if _, err := expect(`{"stream_name":"KV_b"`); err != nil { // the request's payload
		return err
	}
	fc := "NATS/1.0 100 FlowControl Request\r\n\r\n"
	plain := "NATS/1.0\r\nA: b\r\n\r\n"
	created := `{"type":"io.nats.jetstream.api.v1.consumer_create_response"}`
	// The create reply and a ping arrive after two entries and a flow
	// control request: a watcher that counted the request as an entry
	// would be done, and would answer UNSUB before the second PONG.
	err = slow(fmt.Sprintf("MSG $KV.b.k.1 1 $JS.ACK.KV_b.c.1.1.1.0.2 3\r\nabc\r\n"+
		"HMSG %s 1 $JSC.FC.1 %d %d\r\n%s\r\nPING\r\n"+
		"HMSG $KV.b.k.2 1 $JS.ACK.KV_b.c.1.2.2.0.1 %d %d\r\n%sxy\r\n"+
		"MSG %s 2 %d\r\n%s\r\nPING\r\n",
		deliver, len(fc), len(fc), fc, len(plain), len(plain)+2, plain, reply, len(created), created))
	if err != nil {
		return err
	}
	for _, want := range []string{"PUB $JSC.FC.1 0", "", "PONG", "PONG"} {
		if got, ok := <-lines; !ok || got != want {
			return fmt.Errorf("client sent %q, want %q", got, want)
		}
	}
	if err := slow("MSG $KV.b.k.3 1 $JS.ACK.KV_b.c.1.3.3.0.0 0\r\n\r\n"); err != nil {
		return err
	}
	if _, err := expect("UNSUB 1"); err != nil {
		return err
	}
	del, err := expect("PUB $JS.API.CONSUMER.DELETE.KV_b.")
	if err != nil {
		return err
	}
	deleted := `{"success":true}`
	return slow(fmt.Sprintf("MSG %s 2 %d\r\n%s\r\n", strings.Fields(del)[2], len(deleted), deleted))
}
