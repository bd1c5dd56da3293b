package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The route protocol: text control lines ending in CRLF, one message
// payload after RMSG. See docs/CLUSTERING.md, "Route protocol".
//
//	INFO <json>
//	PING / PONG
//	RS+ <account> <subject> [<queue>]
//	RS- <account> <subject> [<queue>]
//	RMSG <account> <subject> <reply|-> <flags> <header size> <total size> [<queue> ...]
//	<header+payload>
//	RMSGAS <account> <route subject> <subject> <reply|-> <flags> <header size> <total size> [<queue> ...]
//	<header+payload>
//	RFWD <account> <subject> <reply|-> <header size> <total size>
//	<header+payload>
//	RAFT <size>
//	<payload>
//	ERR <text>
//
// A routed message's flags are "-" for none, else letters: "p" (deliver
// to plain subscriptions), "c" (to client subscriptions only: the reply
// rule refused in-process services), each at most once.

// Limits of the parser: a longer control line or a larger message is a
// protocol error and closes the route.
const (
	maxControlLine = 1 << 20
	maxMessage     = 64 << 20
)

// ErrProtocol is wrapped by every parse error.
var ErrProtocol = errors.New("cluster: route protocol error")

// opKind is the kind of one parsed operation.
type opKind int

const (
	opInfo opKind = iota + 1
	opPing
	opPong
	opSubAdd
	opSubDel
	opMsg
	opErr
	opFwd
	opRaft
)

// op is one parsed operation. Its slices point into the parser's buffer
// and are valid only during the callback.
type op struct {
	kind    opKind
	arg     []byte // INFO's JSON, ERR's text
	account []byte
	// routeSubject is what RMSGAS routes on (subject is what it shows);
	// for RMSG it is subject.
	routeSubject []byte
	subject      []byte
	reply        []byte // nil for none
	queue        string // RS+/RS-
	plain        bool   // RMSG: deliver to plain subscriptions
	clientsOnly  bool   // RMSG: to client subscriptions only
	queues       []string
	hdrLen       int
	data         []byte // RMSG, RMSGAS, RFWD: header followed by payload; RAFT: payload

	fields [12][]byte // room for the arguments, so parsing does not allocate
}

// fields splits args at spaces and tabs into dst, as bytes.Fields does,
// without allocating for up to cap(dst) fields.
func fields(args []byte, dst [][]byte) [][]byte {
	for i := 0; i < len(args); {
		for i < len(args) && (args[i] == ' ' || args[i] == '\t') {
			i++
		}
		start := i
		for i < len(args) && args[i] != ' ' && args[i] != '\t' {
			i++
		}
		if i > start {
			dst = append(dst, args[start:i])
		}
	}
	return dst
}

// parser splits a route's byte stream into operations. It copes with
// reads split anywhere: an incomplete operation stays in buf until the
// rest arrives.
type parser struct {
	buf []byte
}

// feed appends data and calls fn for each complete operation, stopping
// at the first error (a parse error wraps ErrProtocol).
func (p *parser) feed(data []byte, fn func(*op) error) error {
	p.buf = append(p.buf, data...)
	rest := p.buf
	var o op
	for {
		n, err := parseOne(rest, &o)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if err := fn(&o); err != nil {
			return err
		}
		rest = rest[n:]
	}
	// Keep the incomplete tail at the start of buf.
	k := copy(p.buf, rest)
	p.buf = p.buf[:k]
	if cap(p.buf) > 64<<10 && k < 4<<10 {
		p.buf = append([]byte(nil), p.buf...)
	}
	return nil
}

// parseOne parses the first operation of b into o and returns the bytes
// it used, or 0 when b holds no complete operation yet.
func parseOne(b []byte, o *op) (int, error) {
	eol := bytes.Index(b, crlf)
	if eol < 0 {
		if len(b) > maxControlLine {
			return 0, fmt.Errorf("%w: control line too long", ErrProtocol)
		}
		return 0, nil
	}
	line := b[:eol]
	verb, args, _ := bytes.Cut(line, space)
	*o = op{}
	switch string(verb) {
	case "PING":
		o.kind = opPing
	case "PONG":
		o.kind = opPong
	case "INFO":
		o.kind, o.arg = opInfo, args
	case "ERR":
		o.kind, o.arg = opErr, args
	case "RS+", "RS-":
		o.kind = opSubAdd
		if verb[2] == '-' {
			o.kind = opSubDel
		}
		f := fields(args, o.fields[:0])
		if len(f) < 2 || len(f) > 3 {
			return 0, fmt.Errorf("%w: %s needs account, subject and an optional queue", ErrProtocol, verb)
		}
		o.account, o.subject = f[0], f[1]
		if len(f) == 3 {
			o.queue = string(f[2])
		}
	case "RMSG":
		return parseMsg(b, eol, args, o, false)
	case "RMSGAS":
		return parseMsg(b, eol, args, o, true)
	case "RFWD":
		return parseFwd(b, eol, args, o)
	case "RAFT":
		return parseRaft(b, eol, args, o)
	default:
		return 0, fmt.Errorf("%w: unknown operation %q", ErrProtocol, truncate(verb))
	}
	return eol + 2, nil
}

// parseMsg parses RMSG's (or, with as, RMSGAS's) arguments and waits
// for its payload.
func parseMsg(b []byte, eol int, args []byte, o *op, as bool) (int, error) {
	f := fields(args, o.fields[:0])
	verb := "RMSG"
	if as {
		verb = "RMSGAS"
		if len(f) < 7 {
			return 0, fmt.Errorf("%w: RMSGAS needs 7 arguments", ErrProtocol)
		}
		o.routeSubject = f[1]
		f = append(f[:1], f[2:]...)
	} else if len(f) < 6 {
		return 0, fmt.Errorf("%w: RMSG needs 6 arguments", ErrProtocol)
	}
	plain, clientsOnly, ok := msgFlags(f[3])
	if !ok {
		return 0, fmt.Errorf("%w: %s bad delivery flags", ErrProtocol, verb)
	}
	n, err := payload(b, eol, f[4], f[5], o)
	if n == 0 || err != nil {
		return 0, err
	}
	o.kind = opMsg
	o.account, o.subject = f[0], f[1]
	if !as {
		o.routeSubject = f[1]
	}
	if string(f[2]) != "-" {
		o.reply = f[2]
	}
	o.plain, o.clientsOnly = plain, clientsOnly
	for _, q := range f[6:] {
		o.queues = append(o.queues, string(q))
	}
	return n, nil
}

// msgFlags parses a routed message's flags: "-", or "p" and "c" at
// most once each.
func msgFlags(b []byte) (plain, clientsOnly, ok bool) {
	if string(b) == "-" {
		return false, false, true
	}
	for _, c := range b {
		switch {
		case c == 'p' && !plain:
			plain = true
		case c == 'c' && !clientsOnly:
			clientsOnly = true
		default:
			return false, false, false
		}
	}
	return plain, clientsOnly, len(b) > 0
}

// parseFwd parses RFWD's arguments and waits for its payload.
func parseFwd(b []byte, eol int, args []byte, o *op) (int, error) {
	f := fields(args, o.fields[:0])
	if len(f) != 5 {
		return 0, fmt.Errorf("%w: RFWD needs 5 arguments", ErrProtocol)
	}
	n, err := payload(b, eol, f[3], f[4], o)
	if n == 0 || err != nil {
		return 0, err
	}
	o.kind = opFwd
	o.account, o.subject, o.routeSubject = f[0], f[1], f[1]
	if string(f[2]) != "-" {
		o.reply = f[2]
	}
	return n, nil
}

// parseRaft parses RAFT's size and waits for its payload.
func parseRaft(b []byte, eol int, args []byte, o *op) (int, error) {
	f := fields(args, o.fields[:0])
	if len(f) != 1 {
		return 0, fmt.Errorf("%w: RAFT needs a size", ErrProtocol)
	}
	n, err := payload(b, eol, zero, f[0], o)
	if n == 0 || err != nil {
		return 0, err
	}
	o.kind = opRaft
	return n, nil
}

// payload checks a message's header and total sizes and, once the
// payload and its CRLF are in b, sets o.hdrLen and o.data and returns
// the bytes the operation used (0: wait for more).
func payload(b []byte, eol int, hdrArg, sizeArg []byte, o *op) (int, error) {
	hdr, err1 := strconv.Atoi(string(hdrArg))
	size, err2 := strconv.Atoi(string(sizeArg))
	if err1 != nil || err2 != nil || hdr < 0 || size < hdr || size > maxMessage {
		return 0, fmt.Errorf("%w: bad sizes", ErrProtocol)
	}
	end := eol + 2 + size
	if len(b) < end+2 {
		return 0, nil
	}
	if b[end] != '\r' || b[end+1] != '\n' {
		return 0, fmt.Errorf("%w: payload not followed by CRLF", ErrProtocol)
	}
	o.hdrLen = hdr
	o.data = b[eol+2 : end]
	return end + 2, nil
}

var zero = []byte("0")

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

var (
	crlf  = []byte("\r\n")
	space = []byte(" ")
)

// appendMsg encodes an RMSG, or an RMSGAS when routeSubj is not subj.
func appendMsg(out []byte, acc string, routeSubj, subj, reply []byte, plain, clientsOnly bool, queues []string, header, payload []byte) []byte {
	if string(routeSubj) == string(subj) {
		out = append(out, "RMSG "...)
		out = append(out, acc...)
	} else {
		out = append(out, "RMSGAS "...)
		out = append(out, acc...)
		out = append(out, ' ')
		out = append(out, routeSubj...)
	}
	out = append(out, ' ')
	out = append(out, subj...)
	out = appendReply(out, reply)
	switch {
	case plain && clientsOnly:
		out = append(out, " pc "...)
	case plain:
		out = append(out, " p "...)
	case clientsOnly:
		out = append(out, " c "...)
	default:
		out = append(out, " - "...)
	}
	out = appendSizes(out, header, payload)
	for _, q := range queues {
		out = append(out, ' ')
		out = append(out, q...)
	}
	return appendPayload(out, header, payload)
}

// appendFwd encodes an RFWD.
func appendFwd(out []byte, acc string, subj, reply, header, payload []byte) []byte {
	out = append(out, "RFWD "...)
	out = append(out, acc...)
	out = append(out, ' ')
	out = append(out, subj...)
	out = appendReply(out, reply)
	out = append(out, ' ')
	out = appendSizes(out, header, payload)
	return appendPayload(out, header, payload)
}

// appendRaft encodes a RAFT frame.
func appendRaft(out []byte, data []byte) []byte {
	out = append(out, "RAFT "...)
	out = strconv.AppendInt(out, int64(len(data)), 10)
	return appendPayload(out, nil, data)
}

// appendReply appends " <reply>", or " -" for none.
func appendReply(out, reply []byte) []byte {
	out = append(out, ' ')
	if len(reply) == 0 {
		return append(out, '-')
	}
	return append(out, reply...)
}

// appendSizes appends "<header size> <total size>".
func appendSizes(out, header, payload []byte) []byte {
	out = strconv.AppendInt(out, int64(len(header)), 10)
	out = append(out, ' ')
	return strconv.AppendInt(out, int64(len(header)+len(payload)), 10)
}

// appendPayload ends the control line and appends the header, the
// payload and their CRLF.
func appendPayload(out, header, payload []byte) []byte {
	out = append(out, "\r\n"...)
	out = append(out, header...)
	out = append(out, payload...)
	return append(out, "\r\n"...)
}

// appendSub encodes RS+ (add) or RS-.
func appendSub(out []byte, add bool, acc, subj, queue string) []byte {
	if add {
		out = append(out, "RS+ "...)
	} else {
		out = append(out, "RS- "...)
	}
	out = append(out, acc...)
	out = append(out, ' ')
	out = append(out, subj...)
	if queue != "" {
		out = append(out, ' ')
		out = append(out, queue...)
	}
	return append(out, "\r\n"...)
}
