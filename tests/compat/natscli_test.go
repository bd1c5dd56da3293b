package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// natscliModule is the natscli release the walkthrough is replayed with.
const natscliModule = "github.com/nats-io/natscli/nats@v0.5.0"

var (
	natscliOnce sync.Once
	natscliPath string
	natscliErr  string
)

// natsCLI returns the path of the nats binary: $CAIRN_NATS_CLI, else
// <module root>/.tools/nats, which is built from the Go module proxy on
// first use. The test is skipped when it cannot be had.
func natsCLI(t *testing.T) string {
	t.Helper()
	natscliOnce.Do(func() {
		if p := os.Getenv("CAIRN_NATS_CLI"); p != "" {
			natscliPath = p
			return
		}
		root, err := filepath.Abs("../..")
		if err != nil {
			natscliErr = err.Error()
			return
		}
		tools := filepath.Join(root, ".tools")
		p := filepath.Join(tools, "nats")
		if _, err := os.Stat(p); err == nil {
			natscliPath = p
			return
		}
		cmd := exec.Command("go", "install", natscliModule)
		cmd.Env = append(os.Environ(), "GOBIN="+tools)
		if out, err := cmd.CombinedOutput(); err != nil {
			natscliErr = "building natscli: " + err.Error() + "\n" + string(out)
			return
		}
		natscliPath = p
	})
	if natscliPath == "" {
		t.Fatal(natscliErr)
	}
	return natscliPath
}

// cli runs the nats binary against url.
type cli struct {
	t   *testing.T
	bin string
	url string
	// args are global flags put before each command, such as
	// --user/--password.
	args []string
	// timeout is the --timeout of each command; 5s when empty.
	timeout string
	// failf, when set, replaces t.Fatalf for a step that went wrong.
	failf func(format string, args ...any)
}

// fatalf reports a step that went wrong and stops the test (or calls failf).
func (c *cli) fatalf(format string, args ...any) {
	c.t.Helper()
	if c.failf != nil {
		c.failf(format, args...)
		return
	}
	c.t.Fatalf(format, args...)
}

// run runs one command and returns its combined output and whether it
// succeeded.
func (c *cli) run(args ...string) (string, bool) {
	c.t.Helper()
	timeout := c.timeout
	if timeout == "" {
		timeout = "5s"
	}
	full := append([]string{"--server", c.url, "--no-context", "--timeout", timeout}, c.args...)
	full = append(full, args...)
	cmd := exec.Command(c.bin, full...)
	cmd.Env = append(os.Environ(), "HOME="+c.t.TempDir(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// ok runs a command that must succeed and whose output must contain each
// of want.
func (c *cli) ok(want []string, args ...string) {
	c.t.Helper()
	out, ok := c.run(args...)
	if !ok {
		c.fatalf("nats %s failed:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			c.fatalf("nats %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
}

// fails runs a command that must fail with output containing each of want.
func (c *cli) fails(want []string, args ...string) {
	c.t.Helper()
	out, ok := c.run(args...)
	if ok {
		c.fatalf("nats %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			c.fatalf("nats %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
}

// TestNatsCLIWalkthrough replays the seed walkthrough with the real
// natscli binary; the revisions are those nats-server 2.15.2 gives.
func TestNatsCLIWalkthrough(t *testing.T) {
	tg := start(t)
	walkthrough(&cli{t: t, bin: natsCLI(t), url: tg.URL})
}

// walkthrough runs the seed walkthrough's steps with c.
func walkthrough(c *cli) {
	c.t.Helper()
	c.ok([]string{"JetStream Account Information", "Streams: 0"}, "account", "info")
	c.ok([]string{"Bucket Name: my-kv", "History Kept: 1"}, "kv", "add", "my-kv")
	c.ok([]string{"v1"}, "kv", "put", "my-kv", "Key1", "v1")
	c.ok([]string{"revision: 1", "v1"}, "kv", "get", "my-kv", "Key1")
	c.ok(nil, "kv", "del", "-f", "my-kv", "Key1")
	c.fails([]string{"key not found"}, "kv", "get", "my-kv", "Key1")
	// Deleting a key that never existed succeeds (and writes revision 3).
	c.ok(nil, "kv", "del", "-f", "my-kv", "NotThere")
	c.ok([]string{"a"}, "kv", "create", "my-kv", "lock1", "a")
	c.fails([]string{"err_code=10071", "wrong last sequence: 4", "key exists"}, "kv", "create", "my-kv", "lock1", "b")
	c.ok([]string{"x"}, "kv", "put", "my-kv", "k", "x")
	c.ok([]string{"y"}, "kv", "update", "my-kv", "k", "y", "5")
	c.fails([]string{"err_code=10071", "wrong last sequence: 6"}, "kv", "update", "my-kv", "k", "z", "5")
	c.ok([]string{"revision: 6", "y"}, "kv", "get", "my-kv", "k")
	c.ok([]string{"Values Stored: 4", "JetStream Stream: KV_my-kv"}, "kv", "info", "my-kv")
	c.ok([]string{"my-kv"}, "kv", "ls")

	c.ok([]string{"History Kept: 5", "Maximum Value Size: 1.0 KiB"}, "kv", "edit", "my-kv", "--history", "5", "--max-value-size", "1KiB")
	c.ok(nil, "kv", "purge", "-f", "my-kv", "k")
	c.fails([]string{"key not found"}, "kv", "get", "my-kv", "k")
	c.ok([]string{"Streams: 1"}, "account", "info")

	c.ok(nil, "kv", "rm", "-f", "my-kv")
	c.ok([]string{"No Key-Value buckets found"}, "kv", "ls")
	c.fails([]string{"bucket not found"}, "kv", "get", "my-kv", "Key1")
}
