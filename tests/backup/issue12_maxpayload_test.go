package backup

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// TestCairnRestoreSmallMaxPayload: "cairn kv restore" sends the file in
// pieces no larger than the server's max_payload. It sent 64 KiB pieces
// whatever the server allowed, so against a server with max_payload
// below that every restore of a backup over 64 KiB failed with
// "maximum payload exceeded".
func TestCairnRestoreSmallMaxPayload(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "small.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 16384\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testserver.StartCairnProcess(t, filepath.Join(dir, "store"), "-c", conf)
	defer p.Kill()
	nc, err := nats.Connect(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "small"})
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 12<<10)
	for i := range 16 { // ~200 KiB that do not compress
		_, _ = rand.Read(value)
		if _, err := kv.Put(ctx, fmt.Sprintf("k%d", i), value); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{url: p.URL}
	file := filepath.Join(t.TempDir(), "small.backup")
	if _, errOut, code := cairn(t, s, "kv", "backup", "small", file); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	if _, errOut, code := cairn(t, s, "kv", "restore", file, "--as", "copy"); code != 0 {
		t.Fatalf("restore against max_payload 16384: exit %d: %s", code, errOut)
	}
	if k, w := keys(t, &server{url: p.URL, nc: nc, js: js}, "copy"), keys(t, &server{url: p.URL, nc: nc, js: js}, "small"); !mapsEqual(k, w) {
		t.Fatalf("restored keys differ")
	}
}
