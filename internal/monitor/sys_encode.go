package monitor

import (
	"bytes"
	"compress/gzip"
	"strings"

	"github.com/klauspost/compress/s2"
)

// answer is what an endpoint returns: the payload (nil: no answer) and
// whether it may be compressed (a successful monitoring answer).
type answer struct {
	payload      []byte
	compressible bool
}

// encode compresses a compressible answer for the Accept-Encoding
// header acceptEncoding, as nats-server: "snappy" or "s2" anywhere in
// it gives an s2 stream in snappy-compatible form with Content-Encoding
// "snappy" (what natscli asks for and reads), else "gzip" a gzip
// stream; any other value the plain answer with Content-Encoding
// "identity". An empty payload is sent as it is.
func (a answer) encode(acceptEncoding string) Reply {
	ae := strings.ToLower(acceptEncoding)
	if !a.compressible || ae == "" || len(a.payload) == 0 {
		return Reply{Payload: a.payload}
	}
	var buf bytes.Buffer
	switch {
	case strings.Contains(ae, "snappy") || strings.Contains(ae, "s2"):
		w := s2.NewWriter(&buf, s2.WriterSnappyCompat())
		_, _ = w.Write(a.payload) // writes to memory cannot fail
		_ = w.Close()
		return Reply{Payload: buf.Bytes(), ContentEncoding: "snappy"}
	case strings.Contains(ae, "gzip"):
		w := gzip.NewWriter(&buf)
		_, _ = w.Write(a.payload)
		_ = w.Close()
		return Reply{Payload: buf.Bytes(), ContentEncoding: "gzip"}
	}
	return Reply{Payload: a.payload, ContentEncoding: "identity"}
}
