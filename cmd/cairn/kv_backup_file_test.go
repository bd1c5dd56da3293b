package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
)

// buildArchive writes an archive as docs/OPERATIONS.md and the server
// describe it: magic, version, header, records, trailer with the
// SHA-256 of everything before the checksum; uncompressed.
func buildArchive(version byte, header string, records [][]byte, count, last uint64) []byte {
	var b []byte
	b = append(b, archiveMagic...)
	b = append(b, version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	for _, r := range records {
		b = append(b, 'M')
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	b = append(b, 'E')
	b = binary.BigEndian.AppendUint64(b, count)
	b = binary.BigEndian.AppendUint64(b, last)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func compress(t *testing.T, raw []byte) []byte {
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

func TestCheckBackup(t *testing.T) {
	const header = `{"format":"cairn-stream-archive","version":1,"stream":"KV_b","config":{"name":"KV_b","subjects":["$KV.b.>"]},"state":{"messages":2},"last_seq":9}`
	records := [][]byte{bytes.Repeat([]byte{1}, 30), bytes.Repeat([]byte{2}, 40)}
	good := buildArchive(1, header, records, 2, 7)
	info, err := checkBackup(bytes.NewReader(compress(t, good)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Stream != "KV_b" || info.Messages != 2 || info.LastSeq != 9 || string(info.Config["name"]) != `"KV_b"` {
		t.Fatalf("info %+v", info)
	}

	changed := bytes.Clone(good)
	changed[len(changed)-60] ^= 1 // inside the second record
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"changed record", compress(t, changed), "checksum mismatch"},
		{"no trailer", compress(t, good[:len(good)-49]), "truncated"},
		{"cut checksum", compress(t, good[:len(good)-1]), "truncated"},
		{"cut header", compress(t, good[:20]), "truncated"},
		{"other magic", compress(t, append([]byte("NATSARC1"), good[8:]...)), "not a cairn backup"},
		{"newer version", compress(t, buildArchive(2, header, records, 2, 7)), "version 2"},
		{"bad header", compress(t, buildArchive(1, `{"stream":`, nil, 0, 0)), "unreadable header"},
		{"not s2", good, "damaged"},
		{"compressed and cut", compress(t, good)[:40], "cut short"},
	}
	for _, tt := range tests {
		_, err := checkBackup(bytes.NewReader(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
