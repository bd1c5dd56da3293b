package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// Replica catch-up (docs/STORE.md, "Replica catch-up"): a follower that
// lags behind the leader's compacted Raft log, or restarted with an
// empty store, receives the whole stream from the leader. The leader
// reads it with ReadReplica (replica_read.go): a ReplicaHeader, with
// everything but the messages, then the messages in ascending order.
// The follower rebuilds it with NewReplicaImport (replica_import.go) and
// continues with the log entry after Header.Applied.
//
//	leader:   rr := st.ReadReplica("KV_b"); send(rr.Header().Encode())
//	          for m, err := rr.Next(); err == nil; m, err = rr.Next() { send(m) }
//	follower: h := DecodeReplicaHeader(b); im := st.NewReplicaImport(h)
//	          im.Add(m)...; s, err := im.Commit()  // replaces KV_b
//	          apply entries h.Applied+1, ...

// ReplicaHeader is everything of a stream a replica needs besides its
// messages, at one point of its history.
type ReplicaHeader struct {
	// Config and Meta are the stream's configuration and meta blob. The
	// destination's storage is Config.Storage, which the caller may
	// change between reading and importing.
	Config Config
	Meta   []byte
	// Applied is the index of the last replicated log entry the
	// stream holds (Stream.Applied).
	Applied uint64
	// Msgs is the number of messages that follow the header.
	Msgs uint64
	// FirstSeq, LastSeq and LastTime are State's: the first live
	// sequence (LastSeq+1 when empty, 0 for a stream that never held a
	// message), the last sequence assigned and its time. With them a
	// destination has the same gaps, and an empty stream whose purge
	// moved it forward continues at the same sequence.
	FirstSeq, LastSeq uint64
	LastTime          int64
	// IDs is the duplicate window, oldest first: by time, then
	// sequence.
	IDs []ReplicaID
}

// ReplicaID is one message id remembered in a duplicate window.
type ReplicaID struct {
	ID   string
	Seq  uint64 // the message appended with it
	Time int64  // that message's time (Unix ns)
}

// ErrBadReplicaHeader marks a replica header that does not decode or
// does not describe a possible stream (DecodeReplicaHeader,
// NewReplicaImport), and a ReplicaImport fed messages that contradict
// its header.
var ErrBadReplicaHeader = errors.New("store: bad replica header")

// replicaMagic starts an encoded header; the byte after it is the
// version.
const (
	replicaMagic   = "CRH"
	replicaVersion = 1
	// replicaIDMin is the smallest encoding of one id: length, seq,
	// time.
	replicaIDMin = 1 + 8 + 8
)

var replicaCRC = crc32.MakeTable(crc32.Castagnoli)

// Encode returns h in the replica header format, version 1:
//
//	"CRH" version(1)
//	config   uvarint length + JSON (the stream record's encoding)
//	meta     uvarint length + bytes
//	applied, msgs, first seq, last seq, last time: 8 bytes BE each
//	ids      uvarint count, then per id: uvarint length + id, seq(8), time(8)
//	crc      CRC-32C (Castagnoli) of everything before, 4 bytes BE
func (h ReplicaHeader) Encode() []byte {
	cfg, _ := json.Marshal(h.Config) // cannot fail: plain types
	b := make([]byte, 0, 64+len(cfg)+len(h.Meta)+len(h.IDs)*(replicaIDMin+16))
	b = append(b, replicaMagic...)
	b = append(b, replicaVersion)
	b = binary.AppendUvarint(b, uint64(len(cfg)))
	b = append(b, cfg...)
	b = binary.AppendUvarint(b, uint64(len(h.Meta)))
	b = append(b, h.Meta...)
	for _, v := range []uint64{h.Applied, h.Msgs, h.FirstSeq, h.LastSeq, uint64(h.LastTime)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(h.IDs)))
	for _, id := range h.IDs {
		b = binary.AppendUvarint(b, uint64(len(id.ID)))
		b = append(b, id.ID...)
		b = binary.BigEndian.AppendUint64(b, id.Seq)
		b = binary.BigEndian.AppendUint64(b, uint64(id.Time))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, replicaCRC))
}

// DecodeReplicaHeader decodes what Encode produced. It fails with an
// error matching ErrBadReplicaHeader, saying what is wrong, for
// anything else: a wrong magic, version or checksum, a truncated or
// overlong input, counts beyond what the input holds (so garbage never
// makes it allocate more than the input's size), or a header that
// Validate refuses. The result shares no memory with b.
func DecodeReplicaHeader(b []byte) (ReplicaHeader, error) {
	var h ReplicaHeader
	bad := func(format string, args ...any) (ReplicaHeader, error) {
		return ReplicaHeader{}, fmt.Errorf("%w: %s", ErrBadReplicaHeader, fmt.Sprintf(format, args...))
	}
	if len(b) < len(replicaMagic)+1+4 || string(b[:len(replicaMagic)]) != replicaMagic {
		return bad("not a replica header")
	}
	if v := b[len(replicaMagic)]; v != replicaVersion {
		return bad("version %d, want %d", v, replicaVersion)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, replicaCRC) != sum {
		return bad("checksum mismatch")
	}
	d := headerDecoder{b: body[len(replicaMagic)+1:]}
	cfg := d.bytes()
	h.Meta = slices.Clone(d.bytes())
	var fixed [5]uint64
	for i := range fixed {
		fixed[i] = d.uint64()
	}
	h.Applied, h.Msgs, h.FirstSeq, h.LastSeq, h.LastTime = fixed[0], fixed[1], fixed[2], fixed[3], int64(fixed[4])
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/replicaIDMin) {
		return bad("%d ids in %d bytes", n, len(d.b))
	}
	if n > 0 && d.err == nil {
		h.IDs = make([]ReplicaID, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		id := ReplicaID{ID: string(d.bytes())}
		id.Seq, id.Time = d.uint64(), int64(d.uint64())
		h.IDs = append(h.IDs, id)
	}
	switch {
	case d.err != nil:
		return bad("truncated")
	case len(d.b) > 0:
		return bad("%d bytes after the ids", len(d.b))
	}
	if len(h.Meta) == 0 {
		h.Meta = nil
	}
	if err := json.Unmarshal(cfg, &h.Config); err != nil {
		return bad("config: %v", err)
	}
	if err := h.Validate(); err != nil {
		return ReplicaHeader{}, err
	}
	return h, nil
}

// Validate checks that h describes a possible stream: a name, a known
// storage, LastSeq <= MaxSeq, FirstSeq and Msgs consistent with LastSeq
// (an empty stream has FirstSeq LastSeq+1, or 0 with LastSeq 0; a
// non-empty one 1 <= FirstSeq <= LastSeq and at most LastSeq-FirstSeq+1
// messages), and ids that are not empty, unique, in order (time, then
// sequence), with a sequence in [1, LastSeq] and a time at most
// LastTime. It returns an error matching ErrBadReplicaHeader.
func (h *ReplicaHeader) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: stream %q: %s", ErrBadReplicaHeader, h.Config.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case h.Config.Name == "":
		return bad("no name")
	case h.Config.Storage != FileStorage && h.Config.Storage != MemoryStorage:
		return bad("storage %d", h.Config.Storage)
	case h.LastSeq > MaxSeq:
		return bad("last sequence %d beyond %d", h.LastSeq, MaxSeq)
	case h.Msgs == 0 && h.FirstSeq != h.LastSeq+1 && (h.LastSeq != 0 || h.FirstSeq != 0):
		return bad("empty, with first sequence %d and last %d", h.FirstSeq, h.LastSeq)
	case h.Msgs > 0 && (h.FirstSeq == 0 || h.FirstSeq > h.LastSeq || h.Msgs > h.LastSeq-h.FirstSeq+1):
		return bad("%d messages between sequences %d and %d", h.Msgs, h.FirstSeq, h.LastSeq)
	}
	seen := make(map[string]struct{}, len(h.IDs))
	for i, id := range h.IDs {
		if _, dup := seen[id.ID]; dup || id.ID == "" {
			return bad("id %q empty or repeated", id.ID)
		}
		seen[id.ID] = struct{}{}
		if id.Seq == 0 || id.Seq > h.LastSeq || id.Time > h.LastTime {
			return bad("id %q at sequence %d, time %d, beyond the stream", id.ID, id.Seq, id.Time)
		}
		if i > 0 && cmpReplicaID(h.IDs[i-1], id) >= 0 {
			return bad("ids out of order at %q", id.ID)
		}
	}
	return nil
}

// cmpReplicaID orders ids as a duplicate window adds them.
func cmpReplicaID(a, b ReplicaID) int {
	switch {
	case a.Time != b.Time:
		return cmpInt64(a.Time, b.Time)
	default:
		return cmpUint64(a.Seq, b.Seq)
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// headerDecoder reads the fields of an encoded header; the first
// failure sticks in err and every later read returns zero.
type headerDecoder struct {
	b   []byte
	err error
}

var errShort = errors.New("short")

func (d *headerDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *headerDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *headerDecoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
