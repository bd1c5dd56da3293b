package monitor_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/monitor"
)

// TestIdleConnectionsClosed: a client that makes one request on a
// keep-alive connection and then sends nothing more is disconnected
// after the idle timeout. Without one, such connections stayed open
// for good (ReadHeaderTimeout only bounds a request that has begun),
// and a client could hold the server's file descriptors and goroutines
// by the thousand.
func TestIdleConnectionsClosed(t *testing.T) {
	defer monitor.SetIdleTimeout(300 * time.Millisecond)()
	d := startDaemon(t, nil)
	addr := strings.TrimPrefix(d.MonitorURL(), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("first request: %d, close %v", resp.StatusCode, resp.Close)
	}
	// Idle: the server must end the connection.
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the server sent something on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("an idle keep-alive connection is still open after %v", time.Since(start).Round(time.Millisecond))
	}
}
