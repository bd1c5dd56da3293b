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
	d := startDaemon(t, t.TempDir(), -1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "kv.test.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "CAIRN_URL="+d.ClientURL())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
