package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A minimal reader of the NATS client protocol as a server sends it, for
// the lean watcher: just enough to tell messages from pings and errors,
// find a message's sid, reply and sizes, and skip or read its payload.
// It allocates nothing per message once its buffers have grown.

// frameKind is the kind of one protocol message from the server.
type frameKind int

const (
	frameMsg  frameKind = iota // MSG or HMSG; its payload follows
	framePing                  // PING: answer PONG
	framePong                  // PONG
	frameOK                    // +OK
	frameInfo                  // INFO {...}
	frameErr                   // -ERR '...'
)

// frame is one protocol message. The byte slices are the reader's own
// buffers, valid until the next call of next.
type frame struct {
	kind    frameKind
	subject []byte
	sid     int
	reply   []byte // empty when the message has none
	hdrLen  int    // header bytes at the start of the payload; 0 for MSG
	size    int    // payload bytes, headers included, without the CRLF
	text    []byte // the rest of the line for INFO and -ERR
}

// wireReader reads frames from a server connection.
type wireReader struct {
	r       *bufio.Reader
	f       frame
	payload []byte // reused by readPayload
}

func newWireReader(r io.Reader) *wireReader {
	return &wireReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// errProtocol marks a line the reader cannot parse.
var errProtocol = errors.New("lean: protocol error")

// next reads the next frame's control line. For a frameMsg the caller
// must then consume its payload with skipPayload, readPayload or
// peekHeader followed by skipPayload, before calling next again.
func (w *wireReader) next() (*frame, error) {
	line, err := w.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: control line over %d bytes", errProtocol, w.r.Size())
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	op, rest := line, []byte(nil)
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		op, rest = line[:i], line[i+1:]
	}
	f := &w.f
	f.reply, f.hdrLen = f.reply[:0], 0
	switch {
	case bytes.EqualFold(op, []byte("MSG")):
		return f, w.parseMsg(rest, false)
	case bytes.EqualFold(op, []byte("HMSG")):
		return f, w.parseMsg(rest, true)
	case bytes.EqualFold(op, []byte("PING")):
		f.kind = framePing
	case bytes.EqualFold(op, []byte("PONG")):
		f.kind = framePong
	case bytes.EqualFold(op, []byte("+OK")):
		f.kind = frameOK
	case bytes.EqualFold(op, []byte("INFO")):
		f.kind, f.text = frameInfo, rest
	case bytes.EqualFold(op, []byte("-ERR")):
		f.kind, f.text = frameErr, rest
	default:
		return nil, fmt.Errorf("%w: unknown operation %q", errProtocol, line)
	}
	return f, nil
}

// parseMsg parses the arguments of MSG (subject sid [reply] size) or
// HMSG (subject sid [reply] hdrsize size).
func (w *wireReader) parseMsg(args []byte, headers bool) error {
	var tok [5][]byte
	n, start := 0, -1
	for i := 0; i <= len(args); i++ {
		if i < len(args) && args[i] != ' ' && args[i] != '\t' {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if n == len(tok) {
				return fmt.Errorf("%w: too many arguments in %q", errProtocol, args)
			}
			tok[n], n, start = args[start:i], n+1, -1
		}
	}
	want := 3 // subject sid size, and the reply is optional
	if headers {
		want = 4 // subject sid hdrsize size
	}
	if n != want && n != want+1 {
		return fmt.Errorf("%w: %d arguments in %q", errProtocol, n, args)
	}
	f := &w.f
	f.kind = frameMsg
	f.subject = append(f.subject[:0], tok[0]...)
	var err error
	if f.sid, err = atoi(tok[1]); err != nil {
		return err
	}
	if n == want+1 {
		f.reply = append(f.reply[:0], tok[2]...)
	}
	if f.size, err = atoi(tok[n-1]); err != nil {
		return err
	}
	if headers {
		if f.hdrLen, err = atoi(tok[n-2]); err != nil {
			return err
		}
		if f.hdrLen > f.size {
			return fmt.Errorf("%w: header size %d over total %d", errProtocol, f.hdrLen, f.size)
		}
	}
	return nil
}

// skipPayload discards the current message's payload and its CRLF.
func (w *wireReader) skipPayload() error {
	_, err := w.r.Discard(w.f.size + 2)
	return err
}

// readPayload returns the current message's payload (headers included),
// valid until the next call, and consumes its CRLF.
func (w *wireReader) readPayload() ([]byte, error) {
	if cap(w.payload) < w.f.size+2 {
		w.payload = make([]byte, w.f.size+2)
	}
	p := w.payload[:w.f.size+2]
	if _, err := io.ReadFull(w.r, p); err != nil {
		return nil, err
	}
	return p[:w.f.size], nil
}

// peekHeader returns the current message's header block without
// consuming it (skipPayload or readPayload still must follow); nil for a
// MSG or a header larger than the read buffer.
func (w *wireReader) peekHeader() ([]byte, error) {
	if w.f.hdrLen == 0 || w.f.hdrLen > w.r.Size() {
		return nil, nil
	}
	return w.r.Peek(w.f.hdrLen)
}

func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, fmt.Errorf("%w: bad number %q", errProtocol, b)
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: bad number %q", errProtocol, b)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// statusOf returns the status code of a header block ("NATS/1.0 100
// FlowControl Request\r\n..." → 100), or 0 when it has none.
func statusOf(hdr []byte) int {
	line, _, _ := bytes.Cut(hdr, []byte("\r\n"))
	rest, ok := bytes.CutPrefix(line, []byte("NATS/1.0 "))
	if !ok || len(rest) < 3 {
		return 0
	}
	code, err := atoi(rest[:3])
	if err != nil {
		return 0
	}
	return code
}

// headerValue returns the value of the first header named name in a
// header block, or nil.
func headerValue(hdr []byte, name string) []byte {
	for _, line := range bytes.Split(hdr, []byte("\r\n"))[1:] {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}
