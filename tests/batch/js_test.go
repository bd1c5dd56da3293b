package batch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJavaScriptStartBatch runs tests/js/batch.test.mjs (nats.js
// js.startBatch) with node's test runner against cairn and the peer.
func TestJavaScriptStartBatch(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js (scripts/test needs it for the JavaScript client tests)")
	}
	jsDir, err := filepath.Abs("../js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@nats-io", "jetstream")); err != nil {
		t.Fatalf("%s/node_modules missing: run scripts/test, or npm ci in tests/js", jsDir)
	}
	for _, tg := range both(t, "") {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, node, "--test", "batch.test.mjs")
		cmd.Dir = jsDir
		cmd.Env = append(os.Environ(), "CAIRN_URL="+tg.url)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: node --test batch.test.mjs: %v\n%s", tg.name, err, out)
		}
	}
}
