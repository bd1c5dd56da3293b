package store

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// model is the reference the model-based test compares the store with:
// the same semantics written as plainly as possible, a slice of live
// messages scanned for everything.
type model struct {
	kind     StorageType
	cfg      Config
	msgs     []modelMsg // live, ascending seq
	lastSeq  uint64
	lastTime int64
	dedup    map[string]modelDedup
}

type modelMsg struct {
	Msg
	ttl   time.Duration
	msgID string
}

type modelDedup struct {
	seq  uint64
	time int64
}

func newModel(kind StorageType, cfg Config) *model {
	return &model{kind: kind, cfg: cfg, dedup: map[string]modelDedup{}}
}

func (m *model) size(subject string, hdr, data []byte) uint64 {
	if m.kind == MemoryStorage {
		return uint64(len(subject) + len(hdr) + len(data) + 16)
	}
	if len(hdr) == 0 {
		return uint64(22 + len(subject) + len(data) + 8)
	}
	return uint64(22 + len(subject) + 4 + len(hdr) + len(data) + 8)
}

func (m *model) subjectSeqs(filter string) []uint64 {
	var out []uint64
	for _, x := range m.msgs {
		if subjectMatchesNaive(filter, x.Subject) {
			out = append(out, x.Seq)
		}
	}
	return out
}

// subjectMatchesNaive is an independent matcher: split and compare.
func subjectMatchesNaive(filter, subject string) bool {
	if filter == "" || filter == ">" {
		return true
	}
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func (m *model) bytes() uint64 {
	var n uint64
	for _, x := range m.msgs {
		n += m.size(x.Subject, x.Header, x.Data)
	}
	return n
}

func (m *model) find(seq uint64) int {
	for i, x := range m.msgs {
		if x.Seq == seq {
			return i
		}
	}
	return -1
}

func (m *model) remove(seq uint64) {
	if i := m.find(seq); i >= 0 {
		m.msgs = slices.Delete(m.msgs, i, i+1)
	}
}

func (m *model) append(subject string, hdr, data []byte, o AppendOpts, now int64) (AppendResult, error) {
	if !validSubjectNaive(subject) {
		return AppendResult{}, ErrInvalidSubject
	}
	if o.ExpectedStream != "" && o.ExpectedStream != m.cfg.Name {
		return AppendResult{}, ErrWrongStream
	}
	if o.TTL != 0 && !m.cfg.AllowMsgTTL {
		return AppendResult{}, ErrMsgTTLDisabled
	}
	if o.HasExpectedLastSubjSeq {
		f := subject
		if o.ExpectedLastSubjSeqSubject != "" {
			f = o.ExpectedLastSubjSeqSubject
		}
		var last uint64
		if seqs := m.subjectSeqs(f); len(seqs) > 0 {
			last = seqs[len(seqs)-1]
		}
		if last != o.ExpectedLastSubjSeq {
			return AppendResult{}, &WrongSequenceError{Kind: ErrWrongLastSubjectSequence, Last: last}
		}
	}
	if o.HasExpectedLastSeq && o.ExpectedLastSeq != m.lastSeq {
		return AppendResult{}, &WrongSequenceError{Kind: ErrWrongLastSequence, Last: m.lastSeq}
	}
	if o.MsgID != "" && m.cfg.DuplicateWindow > 0 {
		// Ids older than the window in force are forgotten for good,
		// even if the window grows later.
		for id, d := range m.dedup {
			if now-d.time >= int64(m.cfg.DuplicateWindow) {
				delete(m.dedup, id)
			}
		}
		if d, ok := m.dedup[o.MsgID]; ok {
			return AppendResult{Seq: d.seq, Duplicate: true}, nil
		}
	}
	if m.cfg.MaxMsgSize > 0 && len(hdr)+len(data) > int(m.cfg.MaxMsgSize) {
		return AppendResult{}, ErrMaxMsgSize
	}
	size := m.size(subject, hdr, data)
	if m.cfg.Discard == DiscardNew {
		same := m.subjectSeqs(subject)
		atLimit := m.cfg.MaxMsgsPerSubject > 0 && int64(len(same)) >= m.cfg.MaxMsgsPerSubject && len(same) > 0
		if atLimit && m.cfg.DiscardNewPerSubject && o.Rollup == RollupNone {
			return AppendResult{}, ErrMaxMsgsPerSubject
		}
		if m.cfg.MaxMsgs > 0 && len(m.msgs) >= int(m.cfg.MaxMsgs) && !atLimit {
			return AppendResult{}, ErrMaxMsgs
		}
		if m.cfg.MaxBytes > 0 && m.bytes()+size > uint64(m.cfg.MaxBytes) {
			if !atLimit {
				return AppendResult{}, ErrMaxBytes
			}
			old := m.msgs[m.find(same[0])]
			if m.size(old.Subject, old.Header, old.Data) < size {
				return AppendResult{}, ErrMaxBytes
			}
		}
	}
	msg := m.add(subject, hdr, data, o.TTL, o.MsgID, now)
	switch o.Rollup {
	case RollupSubject:
		for _, seq := range m.subjectSeqs(subject) {
			if seq != msg.Seq {
				m.remove(seq)
			}
		}
	case RollupAll:
		for len(m.msgs) > 0 && m.msgs[0].Seq < msg.Seq {
			m.msgs = m.msgs[1:]
		}
	}
	m.enforce(subject)
	return AppendResult{Seq: msg.Seq, Time: msg.Time}, nil
}

func (m *model) add(subject string, hdr, data []byte, ttl time.Duration, msgID string, now int64) Msg {
	msg := Msg{Subject: subject, Header: hdr, Data: data, Seq: m.lastSeq + 1, Time: max(now, m.lastTime)}
	if msg.Data == nil {
		msg.Data = []byte{}
	}
	m.msgs = append(m.msgs, modelMsg{Msg: msg, ttl: ttl, msgID: msgID})
	m.lastSeq, m.lastTime = msg.Seq, msg.Time
	if msgID != "" && m.cfg.DuplicateWindow > 0 {
		m.dedup[msgID] = modelDedup{seq: msg.Seq, time: msg.Time}
	}
	return msg
}

func validSubjectNaive(s string) bool {
	if s == "" || strings.ContainsAny(s, " \t\r\n\x00") {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
	}
	return true
}

// enforce applies the per-subject limit (to subject, or all if "") and
// the DiscardOld limits.
func (m *model) enforce(subject string) {
	if max := m.cfg.MaxMsgsPerSubject; max > 0 {
		counts := map[string]int64{}
		for _, x := range m.msgs {
			counts[x.Subject]++
		}
		var keep []modelMsg
		for _, x := range m.msgs {
			if (subject == "" || x.Subject == subject) && counts[x.Subject] > max {
				counts[x.Subject]--
				continue
			}
			keep = append(keep, x)
		}
		m.msgs = keep
	}
	if m.cfg.Discard != DiscardOld {
		return
	}
	for m.cfg.MaxMsgs > 0 && int64(len(m.msgs)) > m.cfg.MaxMsgs {
		m.msgs = m.msgs[1:]
	}
	for m.cfg.MaxBytes > 0 && m.bytes() > uint64(m.cfg.MaxBytes) {
		m.msgs = m.msgs[1:]
	}
}

func (m *model) purge(o PurgeOpts) uint64 {
	if (o.Subject == "" || o.Subject == ">") && o.Keep == 0 {
		below := o.Seq
		if below == 0 {
			below = m.lastSeq + 1
		}
		var n uint64
		for len(m.msgs) > 0 && m.msgs[0].Seq < below {
			m.msgs = m.msgs[1:]
			n++
		}
		if below > m.lastSeq+1 {
			m.lastSeq = below - 1
		}
		return n
	}
	seqs := m.subjectSeqs(o.Subject)
	limit := uint64(len(seqs))
	if o.Keep > 0 {
		if o.Keep >= limit {
			return 0
		}
		limit -= o.Keep
	}
	var n uint64
	for _, seq := range seqs {
		if n == limit || (o.Seq > 0 && seq >= o.Seq) {
			break
		}
		m.remove(seq)
		n++
	}
	return n
}

func (m *model) delete(seq uint64) error {
	if m.find(seq) < 0 {
		return ErrNotFound
	}
	m.remove(seq)
	return nil
}

func (m *model) update(cfg Config) {
	m.cfg = cfg
	m.enforce("")
}

func isMarkerHeader(h []byte) bool {
	s := string(h)
	return strings.Contains(s, "\r\nNats-Marker-Reason: ") || strings.Contains(s, "\r\nKV-Operation: PURGE\r\n")
}

// expire removes what MaxAge and TTLs make due at now and places
// markers.
func (m *model) expire(now int64) {
	var emptied []modelMsg
	var keep []modelMsg
	for _, x := range m.msgs {
		byAge := m.cfg.MaxAge > 0 && x.ttl >= 0 && x.Time <= now-int64(m.cfg.MaxAge)
		byTTL := x.ttl > 0 && x.Time+int64(x.ttl) <= now
		if byAge || byTTL {
			emptied = append(emptied, x)
			continue
		}
		keep = append(keep, x)
	}
	m.msgs = keep
	if len(emptied) == 0 {
		return
	}
	if mttl := m.cfg.SubjectDeleteMarkerTTL; mttl > 0 {
		newest := map[string]modelMsg{}
		for _, x := range emptied {
			newest[x.Subject] = x // emptied is in seq order
		}
		var due []modelMsg
		for subject, x := range newest {
			if len(m.subjectSeqs(subject)) == 0 && !isMarkerHeader(x.Header) {
				due = append(due, x)
			}
		}
		slices.SortFunc(due, func(a, b modelMsg) int { return int(a.Seq) - int(b.Seq) })
		for _, x := range due {
			hdr := []byte("NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: " + mttl.String() + "\r\n\r\n")
			m.add(x.Subject, hdr, nil, mttl, "", now)
		}
	}
	m.enforce("")
}

// restart forgets what a restart forgets: ids of messages no longer
// stored, and ids older than the window.
func (m *model) restart(now int64) {
	m.dedup = map[string]modelDedup{}
	for _, x := range m.msgs {
		if x.msgID != "" && m.cfg.DuplicateWindow > 0 && now-x.Time < int64(m.cfg.DuplicateWindow) {
			m.dedup[x.msgID] = modelDedup{seq: x.Seq, time: x.Time}
		}
	}
}

func (m *model) state() State {
	st := State{Msgs: uint64(len(m.msgs)), Bytes: m.bytes(), FirstSeq: m.lastSeq + 1, LastSeq: m.lastSeq, LastTime: m.lastTime}
	subjects := map[string]bool{}
	for _, x := range m.msgs {
		subjects[x.Subject] = true
	}
	st.NumSubjects = len(subjects)
	if m.lastSeq == 0 {
		st.FirstSeq = 0
	}
	if len(m.msgs) > 0 {
		st.FirstSeq, st.FirstTime = m.msgs[0].Seq, m.msgs[0].Time
		st.NumDeleted = int(st.LastSeq - st.FirstSeq + 1 - st.Msgs)
	}
	return st
}

// errKind reduces an error to what the comparison checks.
func errKind(err error) string {
	var wse *WrongSequenceError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &wse):
		return wse.Error()
	}
	for _, e := range []error{ErrInvalidSubject, ErrWrongStream, ErrMsgTTLDisabled, ErrMaxMsgSize,
		ErrMaxMsgs, ErrMaxBytes, ErrMaxMsgsPerSubject, ErrNotFound} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "unexpected: " + err.Error()
}
