package server_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// The memory cost of idle connections and of subscriptions, for
// docs/PERFORMANCE.md:
//
//	go test -run '^$' -bench 'IdleConnection|Subscription' -benchtime 2000x ./internal/server/
//
// Each op is one idle connection (or one subscription). The clients are
// raw sockets made with system calls, so the test's own side adds nothing
// to the Go heap it measures. BenchmarkIdleConnectionRSS and
// BenchmarkSubscriptionRSS compare the resident memory of cairn-server
// and nats-server processes instead:
//
//	go test -run '^$' -bench RSS -benchtime 5000x ./internal/server/

// rawSocket connects to addr with system calls and sends CONNECT.
func rawSocket(tb testing.TB, addr *net.TCPAddr, hello string) int {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		tb.Fatal(err)
	}
	if hello != "" {
		rawWrite(tb, fd, hello)
	}
	return fd
}

func rawWrite(tb testing.TB, fd int, s string) {
	tb.Helper()
	for b := []byte(s); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err != nil {
			tb.Fatal(err)
		}
		b = b[n:]
	}
}

// rawSync sends PING and reads until PONG.
func rawSync(tb testing.TB, fd int) {
	tb.Helper()
	rawWrite(tb, fd, "PING\r\n")
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("PONG\r\n")) {
		n, err := syscall.Read(fd, buf)
		if err != nil || n == 0 {
			tb.Fatalf("read: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
}

// heapAndStacks returns live heap bytes and goroutine stack bytes after
// a full collection.
func heapAndStacks() (heap, stacks int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc), int64(ms.StackInuse)
}

const quietConnect = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"

func BenchmarkIdleConnection(b *testing.B) {
	s := startServer(b, server.Options{})
	fds := make([]int, 0, b.N)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	heap0, stacks0 := heapAndStacks()
	b.ResetTimer()
	for range b.N {
		fd := rawSocket(b, s.Addr(), quietConnect)
		rawSync(b, fd)
		fds = append(fds, fd)
	}
	b.StopTimer()
	heap1, stacks1 := heapAndStacks()
	b.ReportMetric(float64(heap1-heap0)/float64(b.N), "heapB/conn")
	b.ReportMetric(float64(stacks1-stacks0)/float64(b.N), "stackB/conn")
}

func BenchmarkSubscription(b *testing.B) {
	s := startServer(b, server.Options{})
	fd := rawSocket(b, s.Addr(), quietConnect)
	defer syscall.Close(fd)
	rawSync(b, fd)
	heap0, _ := heapAndStacks()
	b.ResetTimer()
	var batch strings.Builder
	for i := range b.N {
		// Shaped like a KV watcher's or a request inbox's subscription.
		fmt.Fprintf(&batch, "SUB $KV.bucket.key%d %d\r\n", i, i+1)
		if batch.Len() > 32<<10 || i == b.N-1 {
			rawWrite(b, fd, batch.String())
			batch.Reset()
		}
	}
	rawSync(b, fd)
	b.StopTimer()
	if n := s.NumSubscriptions(); n != b.N {
		b.Fatalf("%d subscriptions, want %d", n, b.N)
	}
	heap1, _ := heapAndStacks()
	b.ReportMetric(float64(heap1-heap0)/float64(b.N), "heapB/sub")
}

// BenchmarkIdleConnectionRSS opens b.N idle connections to a cairn-server
// process and to a nats-server process (v2.15.2, from .tools) and
// reports the growth of each one's resident set per connection.
func BenchmarkIdleConnectionRSS(b *testing.B) {
	for _, srv := range rssServers(b) {
		perConn := rssGrowth(b, srv.args, func(addr *net.TCPAddr) func() {
			fds := make([]int, 0, b.N)
			for range b.N {
				fd := rawSocket(b, addr, quietConnect)
				rawSync(b, fd)
				fds = append(fds, fd)
			}
			return func() {
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}
		})
		b.ReportMetric(perConn, srv.name+"-rssB/conn")
	}
}

// BenchmarkSubscriptionRSS is BenchmarkIdleConnectionRSS for b.N
// subscriptions of one connection.
func BenchmarkSubscriptionRSS(b *testing.B) {
	for _, srv := range rssServers(b) {
		perSub := rssGrowth(b, srv.args, func(addr *net.TCPAddr) func() {
			fd := rawSocket(b, addr, quietConnect)
			var batch strings.Builder
			for i := range b.N {
				fmt.Fprintf(&batch, "SUB $KV.bucket.key%d %d\r\n", i, i+1)
				if batch.Len() > 32<<10 || i == b.N-1 {
					rawWrite(b, fd, batch.String())
					batch.Reset()
				}
			}
			rawSync(b, fd)
			return func() { syscall.Close(fd) }
		})
		b.ReportMetric(perSub, srv.name+"-rssB/sub")
	}
}

// BenchmarkBurstRSS: b.N connections each publish a 1 MiB message to
// themselves, read it back and sit idle; it reports the growth of the
// server's resident set per connection (issue 9 measured 2.4 MiB per
// connection before buffers followed live data):
//
//	go test -run '^$' -bench BurstRSS -benchtime 50x ./internal/server/
func BenchmarkBurstRSS(b *testing.B) {
	payload := strings.Repeat("x", 1<<20)
	for _, srv := range rssServers(b) {
		perConn := rssGrowth(b, srv.args, func(addr *net.TCPAddr) func() {
			fds := make([]int, 0, b.N)
			for i := range b.N {
				fd := rawSocket(b, addr, quietConnect)
				subj := "big." + strconv.Itoa(i)
				rawWrite(b, fd, "SUB "+subj+" 1\r\nPUB "+subj+" 1048576\r\n"+payload+"\r\n")
				rawSync(b, fd)
				fds = append(fds, fd)
			}
			return func() {
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}
		})
		b.ReportMetric(perConn, srv.name+"-rssB/conn")
	}
}

type rssServer struct {
	name string
	args []string // the command line, without the port
}

// rssServers builds cairn-server and finds nats-server.
func rssServers(b *testing.B) []rssServer {
	bin := filepath.Join(b.TempDir(), "cairn-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/cairn-db/cairn/cmd/cairn-server").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return []rssServer{
		{"cairn", []string{bin, "--no_kv", "-a", "127.0.0.1", "-p"}},
		{"nats-server", []string{testserver.MustTool(b, "nats-server"), "-a", "127.0.0.1", "-p"}},
	}
}

func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rssGrowth starts the server command line args on a free port, lets
// load create b.N objects (its result releases them), and returns the
// growth of the server's resident set per object.
func rssGrowth(b *testing.B, args []string, load func(addr *net.TCPAddr) (release func())) float64 {
	port := freePort(b)
	cmd := exec.Command(args[0], append(args[1:], strconv.Itoa(port))...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr.String())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not start", args[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One connection first, so lazily built structures are in the base.
	warm := rawSocket(b, addr, quietConnect)
	rawSync(b, warm)
	defer syscall.Close(warm)
	rss0 := rssBytes(b, cmd.Process.Pid)
	release := load(addr)
	defer release()
	return float64(rssBytes(b, cmd.Process.Pid)-rss0) / float64(b.N)
}

// rssBytes reads VmRSS of process pid from /proc.
func rssBytes(tb testing.TB, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatalf("no VmRSS for %d", pid)
	return 0
}
