package wire

import (
	"bytes"
	"errors"
	"fmt"
)

// Defaults shared with nats-server.
const (
	DefaultMaxControlLine = 4096
	DefaultMaxPayload     = 1 << 20
)

// Errors returned by Parser.Parse. Each is fatal for the connection; the
// server answers the ones with an Err text (see ErrText) before closing.
var (
	ErrUnknownOp      = errors.New("wire: unknown protocol operation")
	ErrControlLine    = errors.New("wire: maximum control line exceeded")
	ErrMaxPayload     = errors.New("wire: maximum payload violation")
	ErrMalformed      = errors.New("wire: malformed protocol arguments")
	ErrMissingPayload = errors.New("wire: payload not followed by CRLF")
	ErrNoHeaders      = errors.New("wire: HPUB without headers enabled in CONNECT")
)

// ErrText returns the -ERR text nats-server sends for a parse error, or
// "" when nats-server closes the connection without a word.
func ErrText(err error) string {
	switch {
	case errors.Is(err, ErrUnknownOp), errors.Is(err, ErrMissingPayload):
		return "Unknown Protocol Operation"
	case errors.Is(err, ErrControlLine):
		return "maximum control line exceeded"
	case errors.Is(err, ErrMaxPayload):
		return "Maximum Payload Violation"
	}
	return ""
}

// Handler receives the operations a Parser decodes. Byte slices passed to
// it are only valid during the call. An error returned by a method stops
// parsing and is returned by Parse.
type Handler interface {
	// Connect receives the JSON argument of CONNECT.
	Connect(args []byte) error
	// Pub receives PUB (header nil) and HPUB. reply is empty when absent.
	Pub(subject, reply, header, payload []byte) error
	// Sub receives SUB; queue is empty when absent.
	Sub(subject, queue, sid []byte) error
	// Unsub receives UNSUB; max is 0 when absent (unsubscribe now).
	Unsub(sid []byte, max int64) error
	Ping() error
	Pong() error
}

type parseState uint8

const (
	stateControl parseState = iota
	statePayload
)

// Parser is a resumable decoder of the client protocol. The zero value is
// not usable; call NewParser. A Parser is not safe for concurrent use.
type Parser struct {
	maxControl int
	maxPayload int
	headers    bool // HPUB allowed

	state parseState
	line  []byte // partial control line carried between reads

	// Pending PUB/HPUB while its payload arrives.
	subject, reply []byte
	hasHeader      bool
	headerLen      int
	size           int    // payload size including header
	payload        []byte // partial payload carried between reads (+CRLF)
	argsBuf        []byte // backing store for subject/reply across reads
}

// NewParser returns a parser enforcing the given limits (use the Default
// constants for nats-server's).
func NewParser(maxControl, maxPayload int) *Parser {
	return &Parser{maxControl: maxControl, maxPayload: maxPayload}
}

// AllowHeaders enables or disables HPUB (a client enables headers in
// CONNECT; until then HPUB is a protocol violation).
func (p *Parser) AllowHeaders(on bool) { p.headers = on }

// SetMaxPayload changes the payload limit, e.g. after CONNECT.
func (p *Parser) SetMaxPayload(n int) { p.maxPayload = n }

// Parse consumes buf, calling h for each complete operation. It returns
// the first error; the connection must then be closed.
func (p *Parser) Parse(buf []byte, h Handler) error {
	for len(buf) > 0 {
		var err error
		if p.state == statePayload {
			buf, err = p.readPayload(buf, h)
		} else {
			buf, err = p.readControl(buf, h)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *Parser) readControl(buf []byte, h Handler) ([]byte, error) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if len(p.line)+len(buf) > p.maxControl {
			return nil, ErrControlLine
		}
		p.line = append(p.line, buf...)
		return nil, nil
	}
	line := buf[:i]
	if len(p.line) > 0 {
		line = append(p.line, line...)
	}
	rest := buf[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > p.maxControl {
		return nil, ErrControlLine
	}
	err := p.dispatch(line, h)
	p.line = shrink(p.line)
	return rest, err
}

func (p *Parser) readPayload(buf []byte, h Handler) ([]byte, error) {
	need := p.size + 2
	if len(p.payload) == 0 && len(buf) >= need {
		// The whole payload is in this read: no copy.
		return buf[need:], p.deliver(buf[:need], h)
	}
	take := min(need-len(p.payload), len(buf))
	if len(p.payload)+take > cap(p.payload) {
		// Double, but never past the announced size: a client that
		// announces a large payload and stalls holds only what it sent
		// (at most twice), and a large one is copied O(log n) times.
		grown := make([]byte, len(p.payload), min(need, max(2*cap(p.payload), len(p.payload)+take)))
		copy(grown, p.payload)
		p.payload = grown
	}
	p.payload = append(p.payload, buf[:take]...)
	if len(p.payload) < need {
		return nil, nil
	}
	err := p.deliver(p.payload, h)
	p.payload = shrink(p.payload)
	return buf[take:], err
}

// keepBuffer is the largest buffer a Parser keeps between operations; a
// larger one, grown for a big payload or control line, is dropped once
// used, so an idle connection holds no more than this.
const keepBuffer = 64 * 1024

// shrink empties b, dropping it when it has grown past keepBuffer.
func shrink(b []byte) []byte {
	if cap(b) > keepBuffer {
		return nil
	}
	return b[:0]
}

// Buffered returns the capacity, in bytes, of the buffers the parser
// keeps between calls to Parse (a partial control line or payload).
func (p *Parser) Buffered() int {
	return cap(p.line) + cap(p.payload) + cap(p.argsBuf)
}

func (p *Parser) deliver(data []byte, h Handler) error {
	p.state = stateControl
	if data[p.size] != '\r' || data[p.size+1] != '\n' {
		return ErrMissingPayload
	}
	var header []byte
	if p.hasHeader {
		header = data[:p.headerLen]
	}
	return h.Pub(p.subject, p.reply, header, data[p.headerLen:p.size])
}

func (p *Parser) dispatch(line []byte, h Handler) error {
	op, rest := splitOp(line)
	switch {
	case len(op) == 0:
		return ErrUnknownOp
	case equalFold(op, "PUB"):
		return p.startPub(rest, false)
	case equalFold(op, "HPUB"):
		if !p.headers {
			return ErrNoHeaders
		}
		return p.startPub(rest, true)
	case equalFold(op, "SUB"):
		return parseSub(rest, h)
	case equalFold(op, "UNSUB"):
		return parseUnsub(rest, h)
	case equalFold(op, "PING"):
		return h.Ping()
	case equalFold(op, "PONG"):
		return h.Pong()
	case equalFold(op, "CONNECT"):
		return h.Connect(bytes.TrimSpace(rest))
	case equalFold(op, "INFO"), equalFold(op, "+OK"), equalFold(op, "-ERR"):
		// A client may echo these; nats-server ignores them.
		return nil
	}
	return ErrUnknownOp
}

func (p *Parser) startPub(rest []byte, withHeader bool) error {
	var args [4][]byte
	n := splitArgs(rest, args[:])
	var subj, reply, hsize, tsize []byte
	switch {
	case withHeader && n == 3:
		subj, hsize, tsize = args[0], args[1], args[2]
	case withHeader && n == 4:
		subj, reply, hsize, tsize = args[0], args[1], args[2], args[3]
	case !withHeader && n == 2:
		subj, tsize = args[0], args[1]
	case !withHeader && n == 3:
		subj, reply, tsize = args[0], args[1], args[2]
	default:
		return fmt.Errorf("%w: %d arguments", ErrMalformed, n)
	}
	size := parseSize(tsize)
	if size < 0 {
		return fmt.Errorf("%w: bad size %q", ErrMalformed, tsize)
	}
	headerLen := 0
	if withHeader {
		if headerLen = parseSize(hsize); headerLen < 0 || headerLen > size {
			return fmt.Errorf("%w: bad header size %q", ErrMalformed, hsize)
		}
	}
	if size > p.maxPayload {
		return ErrMaxPayload
	}
	// subj and reply point into the read buffer or p.line; keep copies
	// that survive until the payload is complete.
	p.argsBuf = append(append(p.argsBuf[:0], subj...), reply...)
	p.subject = p.argsBuf[:len(subj)]
	p.reply = p.argsBuf[len(subj):]
	p.hasHeader, p.headerLen, p.size = withHeader, headerLen, size
	p.state = statePayload
	return nil
}

func parseSub(rest []byte, h Handler) error {
	var args [3][]byte
	switch splitArgs(rest, args[:]) {
	case 2:
		return h.Sub(args[0], nil, args[1])
	case 3:
		return h.Sub(args[0], args[1], args[2])
	}
	return fmt.Errorf("%w: SUB %q", ErrMalformed, rest)
}

func parseUnsub(rest []byte, h Handler) error {
	var args [2][]byte
	switch splitArgs(rest, args[:]) {
	case 1:
		return h.Unsub(args[0], 0)
	case 2:
		// An unreadable max means no max, as in nats-server.
		return h.Unsub(args[0], max(int64(parseSize(args[1])), 0))
	}
	return ErrUnknownOp
}

// splitOp returns the first word of line and what follows it.
func splitOp(line []byte) (op, rest []byte) {
	line = bytes.TrimLeft(line, " \t")
	for i, c := range line {
		if c == ' ' || c == '\t' {
			return line[:i], line[i+1:]
		}
	}
	return line, nil
}

// splitArgs splits b on runs of spaces and tabs into out. It returns the
// number of arguments found, or len(out)+1 when there are more.
func splitArgs(b []byte, out [][]byte) int {
	n, start := 0, -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] != ' ' && b[i] != '\t' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if n == len(out) {
				return n + 1
			}
			out[n] = b[start:i]
			n++
			start = -1
		}
	}
	return n
}

// parseSize reads a non-negative decimal number; -1 if b is not one.
func parseSize(b []byte) int {
	if len(b) == 0 || len(b) > 10 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// equalFold compares an operation name case-insensitively with an
// upper-case ASCII constant.
func equalFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}
