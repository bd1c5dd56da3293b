package replica

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// The log entries of a stream group. Each is one operation the leader
// decided, with everything a replica needs to apply it the same way:
// an append carries the leader's time and the publisher's expectations
// (checked by the store at apply time, at one point of the log), an
// expiry pass carries its now. Layout: one op byte, then the op's
// fields, integers as uvarints (varints when signed), byte strings as
// a uvarint length and the bytes.
const (
	opAppend byte = 1 // time, subject, hdr, data, AppendOpts
	opDelete byte = 2 // seq
	opPurge  byte = 3 // subject, seq, keep
	opConfig byte = 4 // store.Config as JSON, meta
	opExpire byte = 5 // now
)

// errEntry marks an entry that does not decode (a bug or corruption:
// every replica refuses it the same way).
var errEntry = errors.New("replica: malformed log entry")

// entry is one decoded log entry.
type entry struct {
	op      byte
	time    int64 // opAppend: the leader's time; opExpire: now
	subject string
	hdr     []byte
	data    []byte
	opts    store.AppendOpts
	seq     uint64
	keep    uint64
	cfg     store.Config
	meta    []byte
	batch   []store.BatchMsg // opBatch
}

// appendEntry encodes an append.
func appendEntry(t int64, subject string, hdr, data []byte, o *store.AppendOpts) []byte {
	b := make([]byte, 0, 48+len(subject)+len(hdr)+len(data)+len(o.MsgID)+len(o.ExpectedStream)+len(o.ExpectedLastSubjSeqSubject))
	b = append(b, opAppend)
	b = binary.AppendVarint(b, t)
	b = appendBytes(b, []byte(subject))
	b = appendBytes(b, hdr)
	b = appendBytes(b, data)
	var flags byte
	if o.HasExpectedLastSeq {
		flags |= 1
	}
	if o.HasExpectedLastSubjSeq {
		flags |= 2
	}
	b = append(b, flags, byte(o.Rollup))
	b = binary.AppendUvarint(b, o.ExpectedLastSeq)
	b = binary.AppendUvarint(b, o.ExpectedLastSubjSeq)
	b = appendBytes(b, []byte(o.ExpectedLastSubjSeqSubject))
	b = appendBytes(b, []byte(o.ExpectedStream))
	b = appendBytes(b, []byte(o.MsgID))
	b = binary.AppendVarint(b, int64(o.TTL))
	return b
}

func deleteEntry(seq uint64) []byte {
	return binary.AppendUvarint([]byte{opDelete}, seq)
}

func purgeEntry(o store.PurgeOpts) []byte {
	b := appendBytes([]byte{opPurge}, []byte(o.Subject))
	b = binary.AppendUvarint(b, o.Seq)
	return binary.AppendUvarint(b, o.Keep)
}

func configEntry(cfg store.Config, meta []byte) ([]byte, error) {
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	return appendBytes(appendBytes([]byte{opConfig}, js), meta), nil
}

func expireEntry(now int64) []byte {
	return binary.AppendVarint([]byte{opExpire}, now)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// decoder reads an entry's fields; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errEntry
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errEntry
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns the next byte string, aliasing the entry.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errEntry
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// decodeEntry decodes data; byte strings alias it.
func decodeEntry(data []byte) (entry, error) {
	d := &decoder{b: data}
	e := entry{op: d.byte()}
	switch e.op {
	case opAppend:
		e.time = d.varint()
		e.subject = string(d.bytes())
		e.hdr = d.bytes()
		e.data = d.bytes()
		flags := d.byte()
		e.opts.Rollup = store.Rollup(d.byte())
		e.opts.HasExpectedLastSeq = flags&1 != 0
		e.opts.HasExpectedLastSubjSeq = flags&2 != 0
		e.opts.ExpectedLastSeq = d.uvarint()
		e.opts.ExpectedLastSubjSeq = d.uvarint()
		e.opts.ExpectedLastSubjSeqSubject = string(d.bytes())
		e.opts.ExpectedStream = string(d.bytes())
		e.opts.MsgID = string(d.bytes())
		e.opts.TTL = time.Duration(d.varint())
		if len(e.hdr) == 0 {
			e.hdr = nil
		}
	case opDelete:
		e.seq = d.uvarint()
	case opPurge:
		e.subject = string(d.bytes())
		e.seq = d.uvarint()
		e.keep = d.uvarint()
	case opConfig:
		js := d.bytes()
		e.meta = append([]byte(nil), d.bytes()...)
		// Decoded into a variable of its own: &e.cfg handed to json
		// would move every entry decoded to the heap.
		var cfg store.Config
		if d.err == nil && json.Unmarshal(js, &cfg) != nil {
			d.err = errEntry
		}
		e.cfg = cfg
	case opExpire:
		e.time = d.varint()
	case opBatch:
		e.time, e.batch = decodeBatch(d)
	default:
		if d.err == nil {
			d.err = fmt.Errorf("%w: op %d", errEntry, e.op)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errEntry, len(d.b))
	}
	return e, d.err
}
