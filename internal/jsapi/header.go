package jsapi

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/wire"
)

// NATS message headers (ADR-4). A header block is
//
//	NATS/1.0[ <status>[ <description>]]\r\n
//	Key: Value\r\n
//	...
//	\r\n
//
// Keys are matched exactly (case-sensitive), as nats-server does: the
// clients always send the canonical spelling.

// Header names that steer storage, and those Cairn adds on reads.
const (
	hdrMsgID             = "Nats-Msg-Id"
	hdrExpectedStream    = "Nats-Expected-Stream"
	hdrExpectedLastSeq   = "Nats-Expected-Last-Sequence"
	hdrExpectedLastSubj  = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedSubjSubj  = "Nats-Expected-Last-Subject-Sequence-Subject"
	hdrExpectedLastMsgID = "Nats-Expected-Last-Msg-Id"
	hdrRollup            = "Nats-Rollup"
	hdrTTL               = "Nats-TTL"
	hdrMarkerReason      = "Nats-Marker-Reason"
	hdrRequiredAPILevel  = "Nats-Required-Api-Level"
	hdrIncr              = "Nats-Incr"
	hdrSchedule          = "Nats-Schedule"
	hdrBatchID           = "Nats-Batch-Id"
	hdrFastBatch         = "Nats-Batch"
	hdrStreamSource      = "Nats-Stream-Source"
	hdrKVOperation       = "KV-Operation"

	rollupSubject = "sub"
	rollupAll     = "all"
)

const hdrLine = "NATS/1.0\r\n"

// pubHeaders holds what a publish's headers ask of the stream.
type pubHeaders struct {
	msgID             string
	expectedStream    string
	expectedLastMsgID string
	expectedSubjSubj  string // subject for the per-subject check, "" = the message's
	rollup            string // lower-cased "sub", "all", or anything else (invalid)
	ttl               string
	hasTTL            bool
	expectedLastSeq   uint64
	expectedLastSubj  uint64
	hasLastSeq        bool
	hasLastSubj       bool
	unsupported       *APIError // a header for a feature Cairn refuses
}

// parsePubHeaders extracts the Nats-* publish headers. It costs one scan
// when the block has no "Nats-" key at all (KV Put without options).
func parsePubHeaders(hdr []byte) pubHeaders {
	var p pubHeaders
	if len(hdr) == 0 || !bytes.Contains(hdr, []byte("\nNats-")) {
		return p
	}
	p.msgID, _ = wire.HeaderValue(hdr, hdrMsgID)
	p.expectedStream, _ = wire.HeaderValue(hdr, hdrExpectedStream)
	p.expectedLastMsgID, _ = wire.HeaderValue(hdr, hdrExpectedLastMsgID)
	p.expectedSubjSubj, _ = wire.HeaderValue(hdr, hdrExpectedSubjSubj)
	if v, ok := wire.HeaderValue(hdr, hdrRollup); ok {
		p.rollup = strings.ToLower(v)
	}
	p.ttl, p.hasTTL = wire.HeaderValue(hdr, hdrTTL)
	if v, ok := wire.HeaderValue(hdr, hdrExpectedLastSeq); ok && v != "" {
		p.expectedLastSeq, p.hasLastSeq = parseSeq(v), true
	}
	if v, ok := wire.HeaderValue(hdr, hdrExpectedLastSubj); ok && v != "" {
		p.expectedLastSubj, p.hasLastSubj = parseSeq(v), true
	}
	p.unsupported = unsupportedHeader(hdr)
	return p
}

// unsupportedHeader reports headers of stream features Cairn does not
// implement, with the error nats-server gives on a stream without them.
// Atomic batches (a non-empty Nats-Batch-Id) never come here (batch.go);
// an empty Nats-Batch-Id is an ordinary header, as in nats-server.
func unsupportedHeader(hdr []byte) *APIError {
	for _, u := range []struct {
		key string
		err *APIError
	}{
		{hdrIncr, errCountersDisabled},
		{hdrFastBatch, errBatchPublishDisabled},
		{hdrSchedule, errSchedulesDisabled},
		{hdrStreamSource, errSourceHeaderForbidden},
	} {
		if _, ok := wire.HeaderValue(hdr, u.key); ok {
			return u.err
		}
	}
	return nil
}

// parseSeq parses a decimal sequence the way nats-server does: anything
// that is not a plain non-negative number becomes an impossible sequence
// (so the expectation fails rather than being ignored).
func parseSeq(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return ^uint64(0)
	}
	return n
}

// parseTTL parses a Nats-TTL value (ADR-43): "never", a Go duration of at
// least one second, or a whole number of seconds (digits only, as
// nats-server reads it). It returns the TTL (negative for never) and
// whether the value was valid. nats-server accepts any number of
// seconds; a TTL beyond maxDeadlineDuration is clamped to it so that the
// expiry deadline cannot wrap.
func parseTTL(s string) (time.Duration, bool) {
	if strings.EqualFold(s, "never") {
		return -1, true
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < time.Second {
			return 0, false
		}
		return clampDuration(d.Truncate(time.Second)), true
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	if err != nil || n > uint64(maxDeadlineDuration/time.Second) {
		return maxDeadlineDuration, true
	}
	return time.Duration(n) * time.Second, true
}

// requiredAPILevelTooHigh reports a Nats-Required-Api-Level header that
// is unparsable or above level.
func requiredAPILevelTooHigh(hdr []byte, level int) bool {
	v, ok := wire.HeaderValue(hdr, hdrRequiredAPILevel)
	if !ok {
		return false
	}
	n, err := strconv.Atoi(v)
	return err != nil || n > level
}

// appendHeaderBody appends the key lines of hdr (without the status line
// and the final blank line) to b. hdr may be nil.
func appendHeaderBody(b, hdr []byte) []byte {
	i := bytes.Index(hdr, []byte("\r\n"))
	if i < 0 {
		return b
	}
	body := hdr[i+2:]
	body = bytes.TrimSuffix(body, []byte("\r\n"))
	return append(b, body...)
}

// appendHeaderLine appends "key: value\r\n".
func appendHeaderLine(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// statusHeader builds a status-only header block such as
// "NATS/1.0 404 Message Not Found\r\n\r\n".
func statusHeader(code int, description string) []byte {
	b := make([]byte, 0, 32+len(description))
	b = append(b, "NATS/1.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	if description != "" {
		b = append(b, ' ')
		b = append(b, description...)
	}
	return append(b, "\r\n\r\n"...)
}
