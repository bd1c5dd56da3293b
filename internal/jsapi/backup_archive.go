package jsapi

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/cairn-db/cairn/internal/store"
)

// The stream archive: what $JS.API.STREAM.SNAPSHOT sends and
// $JS.API.STREAM.RESTORE takes, inside an s2 stream (klauspost/compress
// s2 framing, which carries a CRC of every block). It is Cairn's own
// format, not nats-server's: it restores into Cairn only. Layout of the
// uncompressed bytes:
//
//	"CAIRNARC"            8 bytes, the magic
//	version               1 byte (archiveVersion)
//	header length         4 bytes big-endian, at most maxArchiveHeader
//	header                JSON archiveHeader: config, created, state
//	records               'M' uvarint(len) body, ascending sequence:
//	                      seq(8) time(8) varint(ttl ns)
//	                      uvarint-prefixed subject, header, msg id, data
//	trailer               'E' count(8) last_seq(8) sha256(32)
//
// The SHA-256 covers every byte before it, magic to last_seq, so a
// changed, missing or reordered byte anywhere fails the restore; the
// trailer's count and last sequence must also match what was read and
// the header's state. Nothing may follow the trailer. The trailer is the
// archive's last 49 bytes, so a reader that only checks integrity (the
// cairn CLI) needs not parse the records.

const (
	archiveMagic   = "CAIRNARC"
	archiveVersion = 1
	archiveFormat  = "cairn-stream-archive"
	archiveMsgTag  = 'M'
	archiveEndTag  = 'E'

	// maxArchiveHeader bounds the header a restore reads.
	maxArchiveHeader = 1 << 20
	// maxArchiveRecord bounds one record: a message's subject, header
	// and payload, with room to spare over the largest max_payload.
	maxArchiveRecord = 72 << 20
)

// errArchive marks every problem found in an archive being restored.
var errArchive = errors.New("archive corrupt")

// errArchiveTruncated: the archive ended before its trailer.
var errArchiveTruncated = errors.New("archive truncated: it ended before its trailer")

// archiveHeader describes the stream an archive holds.
type archiveHeader struct {
	Format        string       `json:"format"`
	Version       int          `json:"version"`
	Stream        string       `json:"stream"`
	Config        StreamConfig `json:"config"`
	Created       time.Time    `json:"created"`
	Taken         time.Time    `json:"taken"`
	ServerVersion string       `json:"server_version,omitempty"`
	// State is the stream's state at the archive's sequence.
	State StreamState `json:"state"`
	// LastSeq and LastTime (Unix ns) are the stream's last sequence and
	// its time, which the restored stream continues from even when its
	// last messages were removed.
	LastSeq  uint64 `json:"last_seq"`
	LastTime int64  `json:"last_time_ns"`
}

// archiveWriter writes an archive to w.
type archiveWriter struct {
	w     io.Writer
	sum   hash.Hash
	count uint64
	last  uint64
	buf   []byte
}

func newArchiveWriter(w io.Writer, hdr *archiveHeader) (*archiveWriter, error) {
	hdr.Format, hdr.Version = archiveFormat, archiveVersion
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	aw := &archiveWriter{w: w, sum: sha256.New()}
	b := append([]byte(archiveMagic), archiveVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return aw, aw.write(append(b, js...))
}

func (aw *archiveWriter) write(b []byte) error {
	aw.sum.Write(b)
	_, err := aw.w.Write(b)
	return err
}

// add writes one message record.
func (aw *archiveWriter) add(m *store.ExportedMsg) error {
	body := binary.BigEndian.AppendUint64(aw.buf[:0], m.Seq)
	body = binary.BigEndian.AppendUint64(body, uint64(m.Time))
	body = binary.AppendVarint(body, int64(m.TTL))
	for _, f := range [][]byte{[]byte(m.Subject), m.Header, []byte(m.MsgID), m.Data} {
		body = binary.AppendUvarint(body, uint64(len(f)))
		body = append(body, f...)
	}
	var pre [1 + binary.MaxVarintLen64]byte
	pre[0] = archiveMsgTag
	n := binary.PutUvarint(pre[1:], uint64(len(body)))
	aw.buf = body
	if err := aw.write(pre[:1+n]); err != nil {
		return err
	}
	aw.count++
	aw.last = m.Seq
	return aw.write(body)
}

// finish writes the trailer.
func (aw *archiveWriter) finish() error {
	b := []byte{archiveEndTag}
	b = binary.BigEndian.AppendUint64(b, aw.count)
	b = binary.BigEndian.AppendUint64(b, aw.last)
	aw.sum.Write(b)
	_, err := aw.w.Write(aw.sum.Sum(b))
	return err
}

// archiveReader reads an archive, checking it as it goes. Every byte
// consumed before the trailer's checksum goes into sum.
type archiveReader struct {
	r     *bufio.Reader
	sum   hash.Hash
	hdr   archiveHeader
	count uint64
	last  uint64
	rec   bytes.Buffer
	done  bool
}

// readFull reads len(p) bytes, hashing them.
func (ar *archiveReader) readFull(p []byte) error {
	n, err := io.ReadFull(ar.r, p)
	ar.sum.Write(p[:n])
	return err
}

// ReadByte reads one byte, hashing it (io.ByteReader, for varints).
func (ar *archiveReader) ReadByte() (byte, error) {
	b, err := ar.r.ReadByte()
	if err == nil {
		ar.sum.Write([]byte{b})
	}
	return b, err
}

// archiveErr turns a read error into the archive's own errors: an early
// end is a truncation.
func archiveErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errArchiveTruncated
	}
	if errors.Is(err, errArchive) || errors.Is(err, errArchiveTruncated) {
		return err
	}
	if errors.Is(err, s2.ErrCorrupt) || errors.Is(err, s2.ErrCRC) {
		return fmt.Errorf("%w: its compressed data is damaged or cut short (%v)", errArchive, err)
	}
	return fmt.Errorf("%w: %s: %v", errArchive, what, err)
}

// readArchiveHeader checks the magic and version and reads the header.
func readArchiveHeader(r io.Reader) (*archiveReader, error) {
	ar := &archiveReader{sum: sha256.New(), r: bufio.NewReaderSize(r, 64<<10)}
	var pre [len(archiveMagic) + 5]byte
	if err := ar.readFull(pre[:]); err != nil {
		return nil, archiveErr(err, "reading its start")
	}
	if string(pre[:len(archiveMagic)]) != archiveMagic {
		return nil, fmt.Errorf("%w: not a Cairn stream archive (no %s magic)", errArchive, archiveMagic)
	}
	if v := pre[len(archiveMagic)]; v != archiveVersion {
		return nil, fmt.Errorf("%w: archive version %d, this server reads version %d", errArchive, v, archiveVersion)
	}
	n := binary.BigEndian.Uint32(pre[len(archiveMagic)+1:])
	if n > maxArchiveHeader {
		return nil, fmt.Errorf("%w: header of %d bytes", errArchive, n)
	}
	js := make([]byte, n)
	if err := ar.readFull(js); err != nil {
		return nil, archiveErr(err, "reading its header")
	}
	if err := json.Unmarshal(js, &ar.hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errArchive, err)
	}
	if ar.hdr.Format != archiveFormat || ar.hdr.Stream == "" || ar.hdr.Stream != ar.hdr.Config.Name {
		return nil, fmt.Errorf("%w: header names format %q, stream %q", errArchive, ar.hdr.Format, ar.hdr.Stream)
	}
	return ar, nil
}

// next returns the next message, or io.EOF once the trailer was read
// and checked and nothing follows it.
func (ar *archiveReader) next() (store.ExportedMsg, error) {
	if ar.done {
		return store.ExportedMsg{}, io.EOF
	}
	tag, err := ar.ReadByte()
	if err != nil {
		return store.ExportedMsg{}, archiveErr(err, "reading a record")
	}
	switch tag {
	case archiveMsgTag:
		return ar.record()
	case archiveEndTag:
		if err := ar.trailer(); err != nil {
			return store.ExportedMsg{}, err
		}
		ar.done = true
		return store.ExportedMsg{}, io.EOF
	}
	return store.ExportedMsg{}, fmt.Errorf("%w: unknown record tag 0x%02x after message %d", errArchive, tag, ar.last)
}

func (ar *archiveReader) record() (store.ExportedMsg, error) {
	var m store.ExportedMsg
	n, err := binary.ReadUvarint(ar)
	if err != nil {
		return m, archiveErr(err, "reading a record length")
	}
	if n < 17 || n > maxArchiveRecord {
		return m, fmt.Errorf("%w: record of %d bytes after message %d", errArchive, n, ar.last)
	}
	// Grown as the bytes arrive, not to the length the record claims:
	// a damaged length costs no more memory than the data sent.
	ar.rec.Reset()
	if k, err := io.CopyN(&ar.rec, ar.r, int64(n)); err != nil || k != int64(n) {
		return m, archiveErr(io.ErrUnexpectedEOF, "reading a record")
	}
	body := ar.rec.Bytes()
	ar.sum.Write(body)
	m.Seq = binary.BigEndian.Uint64(body)
	m.Time = int64(binary.BigEndian.Uint64(body[8:]))
	body = body[16:]
	ttl, k := binary.Varint(body)
	if k <= 0 {
		return m, fmt.Errorf("%w: message %d: bad TTL", errArchive, m.Seq)
	}
	m.TTL = time.Duration(ttl)
	body = body[k:]
	var fields [4][]byte
	for i := range fields {
		l, k := binary.Uvarint(body)
		if k <= 0 || l > uint64(len(body)-k) {
			return m, fmt.Errorf("%w: message %d: bad field length", errArchive, m.Seq)
		}
		fields[i] = body[k : k+int(l)]
		body = body[k+int(l):]
	}
	if len(body) != 0 || m.Seq <= ar.last {
		return m, fmt.Errorf("%w: message %d after message %d", errArchive, m.Seq, ar.last)
	}
	m.Subject, m.MsgID = string(fields[0]), string(fields[2])
	m.Data = append([]byte{}, fields[3]...)
	if len(fields[1]) > 0 {
		m.Header = bytes.Clone(fields[1])
	}
	ar.count++
	ar.last = m.Seq
	return m, nil
}

// trailer reads and checks the trailer, whose tag was read, and that
// nothing follows it.
func (ar *archiveReader) trailer() error {
	var t [16]byte
	if err := ar.readFull(t[:]); err != nil {
		return archiveErr(err, "reading its trailer")
	}
	want := ar.sum.Sum(nil)
	var got [sha256.Size]byte
	if _, err := io.ReadFull(ar.r, got[:]); err != nil {
		return archiveErr(err, "reading its checksum")
	}
	if !bytes.Equal(got[:], want) {
		return fmt.Errorf("%w: checksum mismatch (the archive was changed or damaged)", errArchive)
	}
	count, last := binary.BigEndian.Uint64(t[:]), binary.BigEndian.Uint64(t[8:])
	if count != ar.count || last != ar.last {
		return fmt.Errorf("%w: trailer counts %d messages up to %d, read %d up to %d", errArchive, count, last, ar.count, ar.last)
	}
	if ar.last > ar.hdr.LastSeq || ar.count != ar.hdr.State.Msgs {
		return fmt.Errorf("%w: %d messages up to %d, header says %d up to %d", errArchive, ar.count, ar.last, ar.hdr.State.Msgs, ar.hdr.LastSeq)
	}
	if _, err := ar.r.ReadByte(); err != io.EOF {
		if err == nil {
			return fmt.Errorf("%w: data after its trailer", errArchive)
		}
		return archiveErr(err, "reading past its trailer")
	}
	return nil
}
