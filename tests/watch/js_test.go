package watch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJavaScriptClient runs tests/js/kv.test.mjs (watch, keys and history
// through @nats-io/kv 3.x) with node's test runner against cairn. The
// npm packages are installed by scripts/test (npm ci in tests/js).
func TestJavaScriptClient(t *testing.T) {
	d := startDaemon(t, t.TempDir(), -1)
	runNodeTest(t, "kv.test.mjs", "CAIRN_URL="+d.ClientURL())
}

// runNodeTest runs tests/js/<file> with node's test runner, with env
// added to the environment, and fails t with node's output if any of
// its tests fails.
func runNodeTest(t *testing.T, file string, env ...string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (scripts/test needs it for the JavaScript client tests)")
	}
	jsDir, err := filepath.Abs("../js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@nats-io", "kv")); err != nil {
		t.Fatalf("%s/node_modules missing: run scripts/test, or npm ci in tests/js", jsDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", file)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", file, err, out)
	}
	t.Logf("%s", out)
}
