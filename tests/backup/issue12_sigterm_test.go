package backup

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// exited reports whether process pid has ended (a zombie not yet reaped
// counts as ended).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) != nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// TestSigtermDuringRestore: SIGTERM while a restore is half received
// stops the server promptly (it does not wait for the restore's client
// or its stall timeout), and the store opens again with no stream and
// no unfinished import.
func TestSigtermDuringRestore(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	kv, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "term"})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 64<<10)
	for i := range 32 {
		_, _ = rand.Read(value)
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	info, err := src.js.Stream(ctx, "KV_term")
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/term.backup"
	if _, errOut, code := cairn(t, src, "kv", "backup", "term", file); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	archive := mustRead(t, file)
	cfg, _ := json.Marshal(map[string]any{"config": info.CachedInfo().Config})

	dir := t.TempDir()
	p := testserver.StartCairnProcess(t, dir)
	defer p.Kill()
	nc, err := nats.Connect(p.URL, nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	resp, err := nc.Request("$JS.API.STREAM.RESTORE.KV_term", cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		DeliverSubject string `json:"deliver_subject"`
	}
	if err := json.Unmarshal(resp.Data, &rr); err != nil || rr.DeliverSubject == "" {
		t.Fatalf("restore answer %s: %v", resp.Data, err)
	}
	for half := archive[:len(archive)/2]; len(half) > 0; {
		n := min(len(half), 64<<10)
		if _, err := nc.Request(rr.DeliverSubject, half[:n], 5*time.Second); err != nil {
			t.Fatal(err)
		}
		half = half[n:]
	}
	start := time.Now()
	if err := syscall.Kill(p.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !exited(p.Pid()) {
		if time.Since(start) > 8*time.Second {
			t.Fatalf("cairn-server still running %v after SIGTERM during a restore\n%s", time.Since(start), p.Log())
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	t.Logf("stopped in %v", time.Since(start))
	p.Kill()
	p2 := testserver.StartCairnProcess(t, dir)
	defer p2.Kill()
	if left := importFiles(t, dir); len(left) != 0 {
		t.Fatalf("unfinished imports after the restart: %v", left)
	}
	nc2, err := nats.Connect(p2.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js, _ := jetstream.New(nc2)
	if _, err := js.Stream(ctx, "KV_term"); err != jetstream.ErrStreamNotFound {
		t.Fatalf("stream after a restore cut by SIGTERM: %v", err)
	}
}
