package backup

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// importFiles lists the unfinished restore files under dir.
func importFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "import-") && strings.HasSuffix(d.Name(), ".tmp") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// TestRestoreKilledMidway: cairn-server killed with SIGKILL while a
// restore is half received leaves no stream behind and, once started
// again, no unfinished restore file (which can be as large as the
// stream); the same restore then succeeds.
func TestRestoreKilledMidway(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	kv, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 64<<10)
	for i := range 64 {
		_, _ = rand.Read(value)
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "crash.backup")
	if _, errOut, code := cairn(t, src, "kv", "backup", "crash", file); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	archive := mustRead(t, file)
	info, err := src.js.Stream(ctx, "KV_crash")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := json.Marshal(map[string]any{"config": info.CachedInfo().Config})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	p := testserver.StartCairnProcess(t, dir)
	nc, err := nats.Connect(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := nc.Request("$JS.API.STREAM.RESTORE.KV_crash", cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		DeliverSubject string `json:"deliver_subject"`
	}
	if err := json.Unmarshal(resp.Data, &rr); err != nil || rr.DeliverSubject == "" {
		t.Fatalf("restore answer %s: %v", resp.Data, err)
	}
	half := archive[:len(archive)/2]
	for len(half) > 0 {
		n := min(len(half), 64<<10)
		if _, err := nc.Request(rr.DeliverSubject, half[:n], 5*time.Second); err != nil {
			t.Fatal(err)
		}
		half = half[n:]
	}
	if len(importFiles(t, dir)) == 0 {
		t.Fatal("no restore file in progress to crash on")
	}
	nc.Close()
	p.Kill()

	p = testserver.StartCairnProcess(t, dir)
	defer p.Kill()
	if left := importFiles(t, dir); len(left) != 0 {
		t.Fatalf("unfinished restore files left after the restart: %v", left)
	}
	nc, err = nats.Connect(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, "KV_crash"); err != jetstream.ErrStreamNotFound {
		t.Fatalf("stream after a restore cut by a crash: %v", err)
	}
	if _, errOut, code := cairn(t, &server{url: p.URL}, "kv", "restore", file); code != 0 {
		t.Fatalf("restore after the crash: %s", errOut)
	}
	st, err := js.Stream(ctx, "KV_crash")
	if err != nil || st.CachedInfo().State.Msgs != 64 {
		t.Fatalf("restored stream: %v", err)
	}
}
