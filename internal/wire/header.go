package wire

import (
	"bytes"
	"strconv"
)

// A header block, as carried by HPUB and HMSG, is
//
//	NATS/1.0[ <status>[ <description>]]\r\n
//	Key: Value\r\n
//	...
//	\r\n
//
// (ADR-4). Keys are matched exactly, as nats-server does for the Nats-*
// headers it acts on.

// headerVersion is the first token of every header block.
const headerVersion = "NATS/1.0"

// HeaderValue returns the first value of key in the header block hdr.
// It does not allocate.
func HeaderValue(hdr []byte, key string) (string, bool) {
	v, ok := headerValueBytes(hdr, key)
	return string(v), ok
}

func headerValueBytes(hdr []byte, key string) ([]byte, bool) {
	if len(hdr) < len(headerVersion) {
		return nil, false
	}
	// Skip the status line.
	i := bytes.Index(hdr, crlf)
	if i < 0 {
		return nil, false
	}
	rest := hdr[i+2:]
	for len(rest) > 0 {
		j := bytes.Index(rest, crlf)
		if j <= 0 {
			return nil, false
		}
		line := rest[:j]
		rest = rest[j+2:]
		if len(line) > len(key) && string(line[:len(key)]) == key && line[len(key)] == ':' {
			return bytes.TrimSpace(line[len(key)+1:]), true
		}
	}
	return nil, false
}

// HeaderStatus returns the status code and description of the block's
// first line ("NATS/1.0 503" → 503, ""), or 0 when it has none.
func HeaderStatus(hdr []byte) (int, string) {
	i := bytes.Index(hdr, crlf)
	if i < 0 || i < len(headerVersion) || string(hdr[:len(headerVersion)]) != headerVersion {
		return 0, ""
	}
	line := bytes.TrimSpace(hdr[len(headerVersion):i])
	code, desc, _ := bytes.Cut(line, []byte(" "))
	n, err := strconv.Atoi(string(code))
	if err != nil {
		return 0, ""
	}
	return n, string(bytes.TrimSpace(desc))
}

// ValidHeader reports whether hdr is a well-formed header block: the
// version line, "Key: Value" lines, and a closing empty line.
func ValidHeader(hdr []byte) bool {
	if !bytes.HasPrefix(hdr, []byte(headerVersion)) || !bytes.HasSuffix(hdr, []byte("\r\n\r\n")) {
		return false
	}
	i := bytes.Index(hdr, crlf)
	rest := hdr[i+2 : len(hdr)-2]
	for len(rest) > 0 {
		j := bytes.Index(rest, crlf)
		if j < 0 {
			return false
		}
		if k := bytes.IndexByte(rest[:j], ':'); k <= 0 {
			return false
		}
		rest = rest[j+2:]
	}
	return true
}

var crlf = []byte("\r\n")

// HeaderBuilder builds a header block. The zero value starts a block
// without a status.
type HeaderBuilder struct {
	buf []byte
}

// NewStatusHeader starts a block with a status line such as
// "NATS/1.0 404 Message Not Found".
func NewStatusHeader(code int, desc string) *HeaderBuilder {
	b := &HeaderBuilder{buf: append(make([]byte, 0, 64), headerVersion...)}
	b.buf = append(b.buf, ' ')
	b.buf = strconv.AppendInt(b.buf, int64(code), 10)
	if desc != "" {
		b.buf = append(b.buf, ' ')
		b.buf = append(b.buf, desc...)
	}
	b.buf = append(b.buf, crlf...)
	return b
}

// Add appends one "key: value" line.
func (b *HeaderBuilder) Add(key, value string) *HeaderBuilder {
	if b.buf == nil {
		b.buf = append(make([]byte, 0, 64), headerVersion+"\r\n"...)
	}
	b.buf = append(b.buf, key...)
	b.buf = append(b.buf, ": "...)
	b.buf = append(b.buf, value...)
	b.buf = append(b.buf, crlf...)
	return b
}

// Bytes closes the block and returns it.
func (b *HeaderBuilder) Bytes() []byte {
	if b.buf == nil {
		b.buf = append(make([]byte, 0, 16), headerVersion+"\r\n"...)
	}
	return append(b.buf, crlf...)
}
