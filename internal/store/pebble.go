package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleBackend stores one stream's messages under its id in the
// Store's Pebble database.
type pebbleBackend struct {
	st   *Store
	id   uint32
	name string
	// buf and key are scratch space for apply (which runs under the
	// stream's exclusive lock); Pebble batches copy what they are given.
	buf, key []byte
}

var _ backend = (*pebbleBackend)(nil)

func (b *pebbleBackend) load(seq uint64, subject string) (*Msg, error) {
	v, closer, err := b.st.db.Get(msgKey(b.id, seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, b.readErr(seq, err)
	}
	defer closer.Close()
	return b.decode(seq, v, subject)
}

// decode copies the record in v into a new Msg.
func (b *pebbleBackend) decode(seq uint64, v []byte, subject string) (*Msg, error) {
	r, err := decodeRecord(v)
	if err != nil {
		return nil, corruptf(b.name, err, "message %d", seq)
	}
	if subject == "" || subject != string(r.subject) {
		subject = string(r.subject)
	}
	// One allocation for header and data.
	buf := make([]byte, len(r.header)+len(r.data))
	copy(buf, r.header)
	copy(buf[len(r.header):], r.data)
	m := &Msg{Subject: subject, Seq: seq, Time: r.time, Data: buf[len(r.header):]}
	if len(r.header) > 0 {
		m.Header = buf[:len(r.header):len(r.header)]
	}
	return m, nil
}

func (b *pebbleBackend) readErr(seq uint64, err error) error {
	if pebble.IsCorruptionError(err) {
		return corruptf(b.name, err, "reading message %d", seq)
	}
	return fmt.Errorf("store: stream %s: reading message %d: %w", b.name, seq, err)
}

func (b *pebbleBackend) loadEach(seqs []uint64, subjects []string, fn func(*Msg) bool) error {
	if len(seqs) == 0 {
		return nil
	}
	it, err := b.st.db.NewIter(&pebble.IterOptions{
		LowerBound: msgKey(b.id, seqs[0]),
		UpperBound: msgKey(b.id, seqs[len(seqs)-1]+1),
	})
	if err != nil {
		return err
	}
	defer it.Close()
	valid := it.SeekGE(msgKey(b.id, seqs[0]))
	for i, seq := range seqs {
		// Step with Next over short gaps (the common case: most
		// messages are the last of their subject); seek over long ones.
		var cur uint64
		for ; valid; valid = it.Next() {
			_, cur, _ = parseMsgKey(it.Key())
			if cur >= seq || seq-cur > 16 {
				break
			}
		}
		if valid && cur < seq {
			valid = it.SeekGE(msgKey(b.id, seq))
			if valid {
				_, cur, _ = parseMsgKey(it.Key())
			}
		}
		if !valid {
			break
		}
		if cur != seq {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return b.readErr(seq, err)
		}
		m, err := b.decode(seq, v, subjects[i])
		if err != nil {
			return err
		}
		if !fn(m) {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return b.readErr(seqs[0], err)
	}
	return nil
}

func (b *pebbleBackend) apply(ws *writeSet) (uint64, func() error, error) {
	batch := b.st.db.NewBatch()
	committed := false
	defer func() {
		if !committed {
			batch.Close()
		}
	}()
	if ws.delBelow > 0 {
		lo, _ := msgKeyRange(b.id)
		if err := batch.DeleteRange(lo, msgKey(b.id, ws.delBelow), nil); err != nil {
			return 0, nil, err
		}
	}
	for _, seq := range ws.dels {
		if seq < ws.delBelow {
			continue
		}
		b.key = appendMsgKey(b.key[:0], b.id, seq)
		if err := batch.Delete(b.key, nil); err != nil {
			return 0, nil, err
		}
	}
	for _, p := range ws.puts {
		b.buf = appendRecord(b.buf[:0], p.msg, p.ttl, p.msgID)
		b.key = appendMsgKey(b.key[:0], b.id, p.msg.Seq)
		if err := batch.Set(b.key, b.buf, nil); err != nil {
			return 0, nil, err
		}
	}
	if cap(b.buf) > 1<<20 {
		b.buf = nil
	}
	if ws.tail {
		if err := batch.Set(tailKey(b.id), encodeTail(ws.lastSeq, ws.lastTime), nil); err != nil {
			return 0, nil, err
		}
	}
	for _, id := range ws.idDels {
		b.key = appendDedupKey(b.key[:0], b.id, id)
		if err := batch.Delete(b.key, nil); err != nil {
			return 0, nil, err
		}
	}
	for _, p := range ws.idPuts {
		b.key = appendDedupKey(b.key[:0], b.id, p.id)
		v := binary.BigEndian.AppendUint64(b.buf[:0], p.seq)
		b.buf = binary.BigEndian.AppendUint64(v, uint64(p.time))
		if err := batch.Set(b.key, b.buf, nil); err != nil {
			return 0, nil, err
		}
	}
	if ws.applied > 0 {
		if err := batch.Set(appliedKey(b.id), binary.BigEndian.AppendUint64(nil, ws.applied), nil); err != nil {
			return 0, nil, err
		}
	}
	if ws.config != nil {
		rec := encodeStreamRecord(streamRecord{ID: b.id, Config: *ws.config, Meta: ws.meta})
		if err := batch.Set(streamKey(b.name), rec, nil); err != nil {
			return 0, nil, err
		}
	}
	committed = true // commit closes it
	return b.st.commit(batch)
}

func (b *pebbleBackend) drop() error {
	batch := b.st.db.NewBatch()
	defer batch.Close()
	lo, hi := msgKeyRange(b.id)
	_ = batch.DeleteRange(lo, hi, nil)
	_ = batch.Delete(tailKey(b.id), nil)
	_ = batch.Delete(hintKey(b.id), nil)
	_ = batch.Delete(appliedKey(b.id), nil)
	lo, hi = dedupKeyRange(b.id)
	_ = batch.DeleteRange(lo, hi, nil)
	_ = batch.Delete(streamKey(b.name), nil)
	return b.st.commitDurable(batch)
}
