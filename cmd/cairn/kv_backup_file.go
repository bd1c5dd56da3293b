package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/s2"
)

// A backup file is the archive cairn-server sends for a snapshot
// ($JS.API.STREAM.SNAPSHOT), byte for byte: an s2 stream around
// "CAIRNARC", a version byte, a JSON header (the stream's configuration
// and state), the messages, and a trailer ('E', message count, last
// sequence, SHA-256 of everything before the checksum). The server's
// internal/jsapi/backup_archive.go defines it; the CLI reads only the
// header and the trailer, so that it can check a file before restoring
// it and say what it holds, without the server's code.

const (
	archiveMagic     = "CAIRNARC"
	archiveVersion   = 1
	archiveTrailer   = 1 + 8 + 8 + sha256.Size
	maxArchiveHeader = 1 << 20
)

// archiveInfo is what a checked backup file holds.
type archiveInfo struct {
	Stream   string                     // the stream's name, KV_<bucket>
	Config   map[string]json.RawMessage // its configuration, as the server gave it
	State    json.RawMessage            // its state at the backup
	Taken    time.Time                  // when the backup was taken
	Messages uint64                     // messages in the file
	LastSeq  uint64                     // the stream's last sequence (the bucket's revision)
	Size     int64                      // bytes of the file
}

// errBadBackup marks a file that is not a complete, intact backup.
var errBadBackup = errors.New("bad backup file")

// checkBackupFile reads the whole file, checking its framing and its
// checksum, and returns what it holds.
func checkBackupFile(path string) (*archiveInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	info, err := checkBackup(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errBadBackup, path, err)
	}
	info.Size = st.Size()
	return info, nil
}

// checkBackup checks an archive read from r.
func checkBackup(r io.Reader) (*archiveInfo, error) {
	zr := bufio.NewReaderSize(s2.NewReader(r), 64<<10)
	sum := sha256.New()
	var pre [len(archiveMagic) + 5]byte
	if _, err := io.ReadFull(zr, pre[:]); err != nil {
		return nil, backupReadErr(err)
	}
	if string(pre[:len(archiveMagic)]) != archiveMagic {
		return nil, errors.New("not a cairn backup (it does not start with " + archiveMagic + ")")
	}
	if v := pre[len(archiveMagic)]; v != archiveVersion {
		return nil, fmt.Errorf("backup format version %d, this cairn reads version %d", v, archiveVersion)
	}
	n := binary.BigEndian.Uint32(pre[len(archiveMagic)+1:])
	if n > maxArchiveHeader {
		return nil, fmt.Errorf("header of %d bytes: the file is damaged", n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(zr, js); err != nil {
		return nil, backupReadErr(err)
	}
	sum.Write(pre[:])
	sum.Write(js)
	var hdr struct {
		Format  string                     `json:"format"`
		Stream  string                     `json:"stream"`
		Config  map[string]json.RawMessage `json:"config"`
		State   json.RawMessage            `json:"state"`
		Taken   time.Time                  `json:"taken"`
		LastSeq uint64                     `json:"last_seq"`
	}
	if err := json.Unmarshal(js, &hdr); err != nil || hdr.Stream == "" || hdr.Config == nil {
		return nil, errors.New("unreadable header: the file is damaged")
	}
	// Hash everything but the trailer's checksum: keep the last
	// archiveTrailer bytes back until the end is known.
	var tail []byte
	buf := make([]byte, 64<<10)
	for {
		k, err := zr.Read(buf)
		tail = append(tail, buf[:k]...)
		if over := len(tail) - archiveTrailer; over > 0 {
			sum.Write(tail[:over])
			tail = append(tail[:0], tail[over:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, backupReadErr(err)
		}
	}
	if len(tail) < archiveTrailer || tail[0] != 'E' {
		return nil, errors.New("it is truncated: its trailer is missing")
	}
	sum.Write(tail[:archiveTrailer-sha256.Size])
	if !bytes.Equal(sum.Sum(nil), tail[archiveTrailer-sha256.Size:]) {
		return nil, errors.New("checksum mismatch: the file was changed, damaged or cut short")
	}
	return &archiveInfo{
		Stream: hdr.Stream, Config: hdr.Config, State: hdr.State, Taken: hdr.Taken,
		Messages: binary.BigEndian.Uint64(tail[1:]), LastSeq: hdr.LastSeq,
	}, nil
}

// backupReadErr explains a failure to read the archive.
func backupReadErr(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("it is truncated")
	case errors.Is(err, s2.ErrCRC), errors.Is(err, s2.ErrCorrupt):
		return fmt.Errorf("its compressed data is damaged or cut short (%v)", err)
	}
	return err
}
