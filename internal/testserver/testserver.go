// Package testserver starts a KV server for the client-side tests (cmd/cairn,
// kvsync): the one place that decides which server those tests run against.
//
// Two kinds exist:
//
//   - "peer": the real nats-server binary, started as a child process on a
//     loopback port with JetStream enabled and its store in t.TempDir(). It is
//     found through $CAIRN_PEER_SERVER, then <module root>/.tools/nats-server,
//     then nats-server on $PATH; a test that asks for it is skipped when none
//     is installed.
//   - "cairn": the in-process cairn daemon (internal/daemon) on a free
//     loopback port with its store in t.TempDir(). This is [Default].
//
// $CAIRN_TEST_SERVER picks the kind for [Start] ("peer" or "cairn"); unset,
// [Default] is used. CAIRN_TEST_SERVER=peer runs the same client tests
// against nats-server, for comparison. Tests that need what only the peer
// offers here (authentication, TLS) call [StartPeer] directly.
package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// Tool returns the path of a tool built into <module root>/.tools (such as
// "nats", the natscli binary), else found on $PATH, or "" if neither.
func Tool(name string) string {
	if root := moduleRoot(); root != "" {
		p := filepath.Join(root, ".tools", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// MustTool is Tool for a test that cannot run without the tool: it fails
// t, saying how to install it, when the tool is missing.
func MustTool(t testing.TB, name string) string {
	t.Helper()
	p := Tool(name)
	if p == "" {
		t.Fatalf("%s is not installed: run scripts/install-tools", name)
	}
	return p
}

// Default is the kind of server [Start] runs when $CAIRN_TEST_SERVER is unset.
const Default = "cairn"

// Server is a running test server. It is stopped by the test's cleanup.
type Server struct {
	// URL is the client URL, e.g. nats://127.0.0.1:41234.
	URL string
	// Kind is "peer" or "cairn".
	Kind string

	proc *Process // nil for the in-process server
}

// Pid returns the process id of a server run as a child process (the
// peer), 0 for the in-process one.
func (s *Server) Pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid()
}

// Start starts the server chosen by $CAIRN_TEST_SERVER (or [Default]) with
// JetStream enabled and an empty store, and stops it when t ends. It fails t
// when the chosen server is not available on this machine.
func Start(t testing.TB) *Server {
	t.Helper()
	kind := os.Getenv("CAIRN_TEST_SERVER")
	if kind == "" {
		kind = Default
	}
	switch kind {
	case "peer":
		return StartPeer(t)
	case "cairn":
		return startCairn(t)
	default:
		t.Fatalf("testserver: unknown CAIRN_TEST_SERVER %q (want peer or cairn)", kind)
		return nil
	}
}

// startCairn starts the in-process cairn daemon.
func startCairn(t testing.TB) *Server {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		Server:   server.Options{Host: "127.0.0.1", Port: -1},
		StoreDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("testserver: start cairn daemon: %v", err)
	}
	t.Cleanup(d.Shutdown)
	return &Server{URL: d.ClientURL(), Kind: "cairn"}
}

// PeerPath returns the path of the nats-server binary, or "" if none is
// installed.
func PeerPath() string {
	if p := os.Getenv("CAIRN_PEER_SERVER"); p != "" {
		return p
	}
	return Tool("nats-server")
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod, or returns "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

var listenLine = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)

// StartPeer starts the nats-server binary with JetStream on a free loopback
// port; extra arguments (for example "--user", "u", "--pass", "p") are
// appended to its command line. It fails t when the binary is not
// installed: scripts/test installs it, and a skipped comparison would hide
// a missing install step.
func StartPeer(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := PeerPath()
	if bin == "" {
		t.Fatal("testserver: nats-server is not installed: run scripts/install-tools (or set CAIRN_PEER_SERVER)")
	}
	args := append([]string{"-js", "-a", "127.0.0.1", "-p", "-1", "-sd", t.TempDir()}, extra...)
	p := startProcess(t, "nats-server", bin, args)
	return &Server{URL: p.URL, Kind: "peer", proc: p}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("%s server at %s", s.Kind, s.URL) }
