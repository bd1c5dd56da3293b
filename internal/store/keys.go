package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// On-disk key schema of the Pebble database (docs/STORE.md has the same
// table). Every key starts with a one-byte space tag; stream data is
// keyed by a numeric stream id that is never reused, so that deleting a
// stream is one range tombstone and recreating it never sees old keys.
//
//	"F"                          -> format marker "cairn-store/1"
//	"N"                          -> next stream id, uint32 big-endian
//	"S" name                     -> stream record (JSON streamRecord)
//	"T" id(4)                    -> tail record: last seq, last time
//	"H" id(4)                    -> size hint: messages, subjects (Close)
//	"A" id(4)                    -> applied log index, uint64 (driven.go)
//	"I" id(4) msgid              -> seq(8), time(8): an id in a driven
//	                                stream's duplicate window (driven.go)
//	"M" id(4) seq(8)             -> message record (see encodeRecord)
//
// Integers in keys are big-endian so that byte order is numeric order.
const (
	spaceFormat  byte = 'F'
	spaceNextID  byte = 'N'
	spaceStream  byte = 'S'
	spaceTail    byte = 'T'
	spaceHint    byte = 'H'
	spaceApplied byte = 'A'
	spaceDedup   byte = 'I'
	spaceMsg     byte = 'M'

	formatMagic = "cairn-store/1"

	recordVersion byte = 1
)

var (
	keyFormat = []byte{spaceFormat}
	keyNextID = []byte{spaceNextID}
)

func streamKey(name string) []byte { return append([]byte{spaceStream}, name...) }

func tailKey(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{spaceTail}, id)
}

func appliedKey(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{spaceApplied}, id)
}

func appendDedupKey(b []byte, id uint32, msgID string) []byte {
	b = append(b, spaceDedup)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, msgID...)
}

// dedupKeyRange returns the bounds [lo, hi) of stream id's ids.
func dedupKeyRange(id uint32) (lo, hi []byte) {
	return appendDedupKey(nil, id, ""), appendDedupKey(nil, id+1, "")
}

func hintKey(id uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{spaceHint}, id)
}

func msgKey(id uint32, seq uint64) []byte { return appendMsgKey(make([]byte, 0, 13), id, seq) }

func appendMsgKey(b []byte, id uint32, seq uint64) []byte {
	b = append(b, spaceMsg)
	b = binary.BigEndian.AppendUint32(b, id)
	return binary.BigEndian.AppendUint64(b, seq)
}

// msgKeyRange returns the bounds [lo, hi) of stream id's messages.
func msgKeyRange(id uint32) (lo, hi []byte) {
	return msgKey(id, 0), binary.BigEndian.AppendUint32([]byte{spaceMsg}, id+1)
}

// parseMsgKey splits a message key.
func parseMsgKey(k []byte) (id uint32, seq uint64, ok bool) {
	if len(k) != 13 || k[0] != spaceMsg {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(k[1:]), binary.BigEndian.Uint64(k[5:]), true
}

// streamRecord is the persisted definition of a file stream.
type streamRecord struct {
	ID     uint32 `json:"id"`
	Config Config `json:"config"`
	Meta   []byte `json:"meta,omitempty"`
}

func encodeStreamRecord(r streamRecord) []byte {
	b, _ := json.Marshal(r) // cannot fail: plain types
	return b
}

func decodeStreamRecord(name string, v []byte) (streamRecord, error) {
	var r streamRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return r, corruptf(name, err, "unreadable stream record")
	}
	if r.Config.Name != name || r.ID == 0 {
		return r, corruptf(name, nil, "stream record names %q with id %d", r.Config.Name, r.ID)
	}
	return r, nil
}

func encodeTail(lastSeq uint64, lastTime int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, lastSeq)
	return binary.BigEndian.AppendUint64(b, uint64(lastTime))
}

func decodeTail(v []byte) (uint64, int64, error) {
	if len(v) != 16 {
		return 0, 0, fmt.Errorf("tail record of %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:])), nil
}

// Message record layout (value of an "M" key):
//
//	version  1 byte (recordVersion)
//	time     8 bytes big-endian, Unix ns
//	ttl      varint, ns (0 none, -1 never)
//	subject  uvarint length + bytes
//	header   uvarint length + bytes
//	msg id   uvarint length + bytes
//	data     the rest
//
// Pebble checksums every block and WAL record, so the record carries no
// checksum of its own; decodeRecord checks the structure.

// record is a decoded message record. Its slices alias the buffer it
// was decoded from.
type record struct {
	time    int64
	ttl     time.Duration
	subject []byte
	header  []byte
	msgID   []byte
	data    []byte
}

func appendRecord(b []byte, m *Msg, ttl time.Duration, msgID string) []byte {
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Time))
	b = binary.AppendVarint(b, int64(ttl))
	b = binary.AppendUvarint(b, uint64(len(m.Subject)))
	b = append(b, m.Subject...)
	b = binary.AppendUvarint(b, uint64(len(m.Header)))
	b = append(b, m.Header...)
	b = binary.AppendUvarint(b, uint64(len(msgID)))
	b = append(b, msgID...)
	return append(b, m.Data...)
}

var errBadRecord = errors.New("malformed message record")

func decodeRecord(v []byte) (record, error) {
	var r record
	if len(v) < 9 || v[0] != recordVersion {
		return r, errBadRecord
	}
	r.time = int64(binary.BigEndian.Uint64(v[1:]))
	v = v[9:]
	ttl, n := binary.Varint(v)
	if n <= 0 {
		return r, errBadRecord
	}
	r.ttl = time.Duration(ttl)
	v = v[n:]
	var fields [3][]byte
	for i := range fields {
		l, n := binary.Uvarint(v)
		if n <= 0 || l > uint64(len(v)-n) {
			return r, errBadRecord
		}
		fields[i] = v[n : n+int(l)]
		v = v[n+int(l):]
	}
	r.subject, r.header, r.msgID, r.data = fields[0], fields[1], fields[2], v
	if len(r.subject) == 0 {
		return r, errBadRecord
	}
	return r, nil
}
