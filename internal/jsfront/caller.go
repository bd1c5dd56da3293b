package jsfront

import (
	"bytes"
	"encoding/json"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// callerHeader carries a forwarded request's recorded permissions
// (jsapi.RecordedCaller as JSON) from the client's node to the holder.
const callerHeader = "Cairn-Caller"

// withCaller returns hdr without any Cairn-Caller line and, when rc is
// not nil, with one carrying rc.
func withCaller(hdr []byte, rc *jsapi.RecordedCaller) []byte {
	hdr = stripCaller(hdr)
	if rc == nil {
		return hdr
	}
	value, err := json.Marshal(rc)
	if err != nil {
		return hdr
	}
	var b bytes.Buffer
	if len(hdr) == 0 {
		b.WriteString("NATS/1.0\r\n")
	} else {
		// Keep the status line and fields, and end the last one: a
		// client's header block need not end with an empty line (the
		// server passes it as sent), and a Cairn-Caller glued to its
		// last line would not be found by the holder, which would then
		// take the client for an unrestricted one.
		h := bytes.TrimSuffix(hdr, []byte("\r\n"))
		b.Write(h)
		if !bytes.HasSuffix(h, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	}
	b.WriteString(callerHeader + ": ")
	b.Write(value)
	b.WriteString("\r\n\r\n")
	return b.Bytes()
}

// stripCaller returns hdr without its Cairn-Caller lines (a copy when
// it had any).
func stripCaller(hdr []byte) []byte {
	if len(hdr) == 0 || !bytes.Contains(bytes.ToLower(hdr), []byte("cairn-caller:")) {
		return hdr
	}
	lines := bytes.Split(hdr, []byte("\r\n"))
	out := make([][]byte, 0, len(lines))
	for _, l := range lines {
		if len(l) > len(callerHeader) && bytes.EqualFold(l[:len(callerHeader)+1], []byte(callerHeader+":")) {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\r\n"))
}

// callerFrom returns the recorded permissions of a forwarded request:
// nil (unrestricted) when hdr has none, a caller refusing everything
// when they do not decode.
func callerFrom(hdr []byte) jsapi.Caller {
	for _, l := range bytes.Split(hdr, []byte("\r\n")) {
		if len(l) <= len(callerHeader) || !bytes.EqualFold(l[:len(callerHeader)+1], []byte(callerHeader+":")) {
			continue
		}
		rc := new(jsapi.RecordedCaller)
		if json.Unmarshal(bytes.TrimSpace(l[len(callerHeader)+1:]), rc) != nil {
			return &jsapi.RecordedCaller{}
		}
		return rc
	}
	return nil
}

// recorded returns c's answers for the request as a Caller that can be
// used after the handler's call; nil stays nil.
func recorded(c jsapi.Caller, subject string, data []byte) jsapi.Caller {
	if rc := jsapi.RecordCaller(c, subject, data); rc != nil {
		return rc
	}
	return nil
}
