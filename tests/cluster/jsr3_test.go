package cluster

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestR3JavaScriptClient runs testdata/kvr3.test.mjs (the scenarios of
// tests/js/kv.test.mjs through @nats-io/kv 3.x, on an R3 bucket with a
// connection per node; issue 15, point 6) with node's test runner
// against a three-node cluster of each kind.
func TestR3JavaScriptClient(t *testing.T) {
	t.Parallel()
	onBoth(t, func(t *testing.T, k kind) {
		nodes := startJSCluster(t, k, 3)
		var urls []string
		for _, n := range nodes {
			urls = append(urls, n.URL())
		}
		runNodeScript(t, "kvr3.test.mjs", "CAIRN_URLS="+strings.Join(urls, ","))
	})
}

// runNodeScript runs testdata/<file> with node's test runner, with env
// added to the environment, and fails t with node's output if any of
// its tests fails. The script is copied to a temporary directory beside
// a link to tests/js/node_modules (installed by scripts/test, npm ci in
// tests/js), so that it resolves the same packages as tests/js.
func runNodeScript(t *testing.T, file string, env ...string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (scripts/test needs it for the JavaScript client tests)")
	}
	modules, err := filepath.Abs("../js/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "@nats-io", "kv")); err != nil {
		t.Fatalf("%s missing: run scripts/test, or npm ci in tests/js", modules)
	}
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, file), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", file, err, out)
	}
	t.Logf("%s", out)
}
