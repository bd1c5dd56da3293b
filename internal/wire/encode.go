package wire

import (
	"slices"
	"strconv"
)

// Fixed server-to-client lines.
var (
	Ping = []byte("PING\r\n")
	Pong = []byte("PONG\r\n")
	OK   = []byte("+OK\r\n")
)

// AppendErr appends "-ERR 'text'\r\n".
func AppendErr(buf []byte, text string) []byte {
	buf = append(buf, "-ERR '"...)
	buf = append(buf, text...)
	return append(buf, "'\r\n"...)
}

// AppendInfo appends "INFO <json> \r\n" (nats-server writes a space
// before CRLF, and some clients split on it).
func AppendInfo(buf, json []byte) []byte {
	buf = append(buf, "INFO "...)
	buf = append(buf, json...)
	return append(buf, " \r\n"...)
}

// AppendMsg appends a message delivery: MSG when header is nil, HMSG
// otherwise. reply may be empty.
func AppendMsg(buf, subject []byte, sid string, reply, header, payload []byte) []byte {
	// Room for the whole message at once, doubling a buffer that must
	// grow: append alone grows a large buffer by a quarter at a time, so
	// a reply of many messages (a batch get of a whole bucket) was
	// copied over and over as it grew.
	if n := 48 + len(subject) + len(sid) + len(reply) + len(header) + len(payload); cap(buf)-len(buf) < n {
		buf = slices.Grow(buf, max(n, cap(buf)))
	}
	if header == nil {
		buf = append(buf, "MSG "...)
	} else {
		buf = append(buf, "HMSG "...)
	}
	buf = append(buf, subject...)
	buf = append(buf, ' ')
	buf = append(buf, sid...)
	buf = append(buf, ' ')
	if len(reply) > 0 {
		buf = append(buf, reply...)
		buf = append(buf, ' ')
	}
	if header != nil {
		buf = strconv.AppendInt(buf, int64(len(header)), 10)
		buf = append(buf, ' ')
	}
	buf = strconv.AppendInt(buf, int64(len(header)+len(payload)), 10)
	buf = append(buf, "\r\n"...)
	buf = append(buf, header...)
	buf = append(buf, payload...)
	return append(buf, "\r\n"...)
}
