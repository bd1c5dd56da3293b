package backup

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go/jetstream"
)

func kvConfig(bucket string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: bucket, History: 1, TTL: time.Hour}
}

// archivePath returns the archive natscli wrote in a backup directory.
func archivePath(t *testing.T, dir string) string {
	t.Helper()
	for _, name := range []string{"stream.arc.s2", "stream.tar.s2"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return filepath.Join(dir, name)
		}
	}
	t.Fatalf("no archive in %s", dir)
	return ""
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, mustRead(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readArchive returns the uncompressed content of an archive file.
func readArchive(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := io.ReadAll(s2.NewReader(bytes.NewReader(mustRead(t, path))))
	if err != nil {
		t.Fatalf("decompress %s: %v", path, err)
	}
	if !bytes.HasPrefix(raw, []byte("CAIRNARC")) {
		t.Fatalf("%s is not a Cairn archive", path)
	}
	return raw
}

// recompress makes a valid s2 stream of raw, so that only the archive's
// own checks can find what is wrong with it.
func recompress(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := s2.NewWriter(&buf)
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// flipByte returns a copy of b with the byte at i changed.
func flipByte(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x55
	return c
}
