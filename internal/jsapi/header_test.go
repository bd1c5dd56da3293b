package jsapi

import (
	"testing"
	"time"
)

func TestParsePubHeaders(t *testing.T) {
	hdr := []byte("NATS/1.0\r\nNats-Msg-Id: m1\r\nNats-Expected-Last-Subject-Sequence: 5\r\n" +
		"Nats-Expected-Last-Sequence: 0\r\nNats-Rollup: SUB\r\nNats-TTL: 10s\r\n" +
		"Nats-Expected-Stream: KV_b\r\n\r\n")
	p := parsePubHeaders(hdr)
	if p.msgID != "m1" || !p.hasLastSubj || p.expectedLastSubj != 5 || !p.hasLastSeq ||
		p.expectedLastSeq != 0 || p.rollup != "sub" || p.ttl != "10s" || !p.hasTTL ||
		p.expectedStream != "KV_b" || p.unsupported != nil {
		t.Fatalf("got %+v", p)
	}
}

func TestParsePubHeadersAbsent(t *testing.T) {
	for _, hdr := range []string{"", "NATS/1.0\r\n\r\n", "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"} {
		p := parsePubHeaders([]byte(hdr))
		if p.hasLastSeq || p.hasLastSubj || p.hasTTL || p.msgID != "" || p.rollup != "" {
			t.Fatalf("%q: got %+v", hdr, p)
		}
	}
}

func TestParsePubHeadersBadSequence(t *testing.T) {
	p := parsePubHeaders([]byte("NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: x\r\n\r\n"))
	if !p.hasLastSubj || p.expectedLastSubj != ^uint64(0) {
		t.Fatalf("got %+v", p)
	}
}

func TestUnsupportedHeaders(t *testing.T) {
	tests := map[string]uint16{
		"Nats-Incr: 1":              10168,
		"Nats-Schedule: @every 1s":  10188,
		"Nats-Stream-Source: S 1 x": 10227,
	}
	for line, code := range tests {
		p := parsePubHeaders([]byte("NATS/1.0\r\n" + line + "\r\n\r\n"))
		if p.unsupported == nil || p.unsupported.ErrCode != code {
			t.Errorf("%s: got %v, want %d", line, p.unsupported, code)
		}
	}
}

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"never", -1, true},
		{"NEVER", -1, true},
		{"10s", 10 * time.Second, true},
		{"1.5s", time.Second, true},
		{"500ms", 0, false},
		{"60", time.Minute, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTTL(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTTL(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRequiredAPILevel(t *testing.T) {
	tests := []struct {
		hdr  string
		want bool
	}{
		{"", false},
		{"NATS/1.0\r\nNats-Required-Api-Level: 1\r\n\r\n", false},
		{"NATS/1.0\r\nNats-Required-Api-Level: 2\r\n\r\n", true},
		{"NATS/1.0\r\nNats-Required-Api-Level: x\r\n\r\n", true},
	}
	for _, tt := range tests {
		if got := requiredAPILevelTooHigh([]byte(tt.hdr), 1); got != tt.want {
			t.Errorf("%q: got %v", tt.hdr, got)
		}
	}
}

func TestHeaderBuilding(t *testing.T) {
	if got := string(statusHeader(404, "Message Not Found")); got != "NATS/1.0 404 Message Not Found\r\n\r\n" {
		t.Fatalf("got %q", got)
	}
	b := appendHeaderBody([]byte(hdrLine), []byte("NATS/1.0\r\nKV-Operation: DEL\r\n\r\n"))
	b = appendHeaderLine(b, "Nats-Stream", "KV_b")
	if got := string(b); got != "NATS/1.0\r\nKV-Operation: DEL\r\nNats-Stream: KV_b\r\n" {
		t.Fatalf("got %q", got)
	}
	if got := string(appendHeaderBody(nil, nil)); got != "" {
		t.Fatalf("got %q", got)
	}
}
