package replica

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// Atomic batches (ADR-50) on a replicated stream: the whole batch is
// one log entry, with the leader's time, and every replica appends it
// with store.AppendBatchOpts at that entry, all or nothing. A message's
// Refuse and RefuseLate (the caller's own checks, which keep their place
// among the store's) travel as wire errors: the caller's errors must
// implement WireError, and come back as *Refusal.

// WireError is an error with nats-server's wire form (jsapi.APIError).
type WireError interface {
	error
	Wire() (code int, errCode uint16, description string)
}

// Refusal is a WireError that crossed the log.
type Refusal struct {
	Code        int    `json:"code"`
	ErrCode     uint16 `json:"err_code"`
	Description string `json:"description"`
}

func (r *Refusal) Error() string { return fmt.Sprintf("%s (%d)", r.Description, r.ErrCode) }

// Wire implements WireError.
func (r *Refusal) Wire() (int, uint16, string) { return r.Code, r.ErrCode, r.Description }

const opBatch byte = 6 // time, count, then each message

// errRefusalForm: a Refuse that is not a WireError cannot cross the log.
var errRefusalForm = errors.New("replica: a batch refusal must be a WireError")

func appendRefusal(b []byte, err error) ([]byte, error) {
	if err == nil {
		return appendBytes(b, nil), nil
	}
	var we WireError
	if !errors.As(err, &we) {
		return nil, fmt.Errorf("%w: %v", errRefusalForm, err)
	}
	code, errCode, desc := we.Wire()
	js, err := json.Marshal(Refusal{Code: code, ErrCode: errCode, Description: desc})
	if err != nil {
		return nil, err
	}
	return appendBytes(b, js), nil
}

func decodeRefusal(d *decoder) error {
	js := d.bytes()
	if d.err != nil || len(js) == 0 {
		return nil
	}
	r := new(Refusal)
	if json.Unmarshal(js, r) != nil {
		d.err = errEntry
		return nil
	}
	return r
}

func batchEntry(t int64, msgs []store.BatchMsg) ([]byte, error) {
	b := binary.AppendVarint([]byte{opBatch}, t)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for i := range msgs {
		m := &msgs[i]
		b = appendBytes(b, []byte(m.Subject))
		b = appendBytes(b, m.Header)
		b = appendBytes(b, m.Data)
		b = binary.AppendVarint(b, int64(m.TTL))
		b = appendBytes(b, []byte(m.MsgID))
		var flags byte
		if m.HasExpectedLastSeq {
			flags |= 1
		}
		if m.HasExpectedLastSubjSeq {
			flags |= 2
		}
		b = append(b, flags, byte(m.Rollup))
		b = binary.AppendUvarint(b, m.ExpectedLastSeq)
		b = binary.AppendUvarint(b, m.ExpectedLastSubjSeq)
		b = appendBytes(b, []byte(m.ExpectedLastSubjSeqSubject))
		var err error
		if b, err = appendRefusal(b, m.Refuse); err != nil {
			return nil, err
		}
		if b, err = appendRefusal(b, m.RefuseLate); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decodeBatch decodes the messages of a batch entry after its op byte.
func decodeBatch(d *decoder) (int64, []store.BatchMsg) {
	t := d.varint()
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) { // every message takes bytes
		d.err = errEntry
		return 0, nil
	}
	msgs := make([]store.BatchMsg, 0, n)
	for range n {
		var m store.BatchMsg
		m.Subject = string(d.bytes())
		m.Header = d.bytes()
		m.Data = d.bytes()
		m.TTL = time.Duration(d.varint())
		m.MsgID = string(d.bytes())
		flags := d.byte()
		m.Rollup = store.Rollup(d.byte())
		m.HasExpectedLastSeq = flags&1 != 0
		m.HasExpectedLastSubjSeq = flags&2 != 0
		m.ExpectedLastSeq = d.uvarint()
		m.ExpectedLastSubjSeq = d.uvarint()
		m.ExpectedLastSubjSeqSubject = string(d.bytes())
		m.Refuse = decodeRefusal(d)
		m.RefuseLate = decodeRefusal(d)
		if d.err != nil {
			return 0, nil
		}
		if len(m.Header) == 0 {
			m.Header = nil
		}
		msgs = append(msgs, m)
	}
	return t, msgs
}

var _ store.BatchAppender = (*Stream)(nil)

// AppendBatch replicates an atomic batch: one entry, applied by every
// replica all or nothing at the same point of the log.
func (s *Stream) AppendBatch(msgs []store.BatchMsg) (store.BatchResult, error) {
	data, err := batchEntry(time.Now().UnixNano(), msgs)
	if err != nil {
		return store.BatchResult{}, err
	}
	r, err := s.propose(data)
	return r.batch, err
}

// AppendBatchOpts is the group's: a replica's store is driven by the
// log only.
func (s *Stream) AppendBatchOpts([]store.BatchMsg, store.BatchOpts) (store.BatchResult, error) {
	return store.BatchResult{}, errDriven
}
