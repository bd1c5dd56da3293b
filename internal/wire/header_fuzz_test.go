package wire

import (
	"bytes"
	"strings"
	"testing"
)

// naiveHeaderValue is HeaderValue written the slow, obvious way: the
// lines after the status line, up to the first empty or unterminated
// one, searched for "key:".
func naiveHeaderValue(hdr []byte, key string) (string, bool) {
	if len(hdr) < len(headerVersion) {
		return "", false
	}
	lines := strings.Split(string(hdr), "\r\n")
	if len(lines) < 2 {
		return "", false
	}
	// The last element follows the last CRLF: not a complete line.
	for _, l := range lines[1 : len(lines)-1] {
		if l == "" {
			return "", false
		}
		if strings.HasPrefix(l, key+":") && len(l) > len(key) {
			return string(bytes.TrimSpace([]byte(l[len(key)+1:]))), true
		}
	}
	return "", false
}

// FuzzHeader feeds arbitrary header blocks to the header helpers (none
// may panic, and HeaderValue must agree with naiveHeaderValue), and
// builds blocks from arbitrary keys, values and statuses, which must read
// back as built.
func FuzzHeader(f *testing.F) {
	seeds := []struct {
		hdr, key, value string
		code            int
		desc            string
	}{
		{"NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n", "Nats-Msg-Id", "abc", 503, ""},
		{"NATS/1.0 404 Message Not Found\r\n\r\n", "KV-Operation", "DEL", 404, "Message Not Found"},
		{"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 5\r\nNats-Last-Stream: 7\r\n\r\n", "Nats-Last-Stream", "7", 100, "Idle Heartbeat"},
		{"NATS/1.0\r\nA:b\r\nA: c\r\n\r\n", "A", " spaced ", 408, "Request Timeout"},
		{"NATS/1.0\r\n:\r\n\r\n", "", "", 0, ""},
		{"NATS/1.0", "N", "", 99999, " x "},
		{"\r\n\r\n", "Nats-TTL", "1s", 200, "OK"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.hdr), s.key, s.value, s.code, s.desc)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, key, value string, code int, desc string) {
		got, ok := HeaderValue(hdr, key)
		want, wantOK := naiveHeaderValue(hdr, key)
		if ok != wantOK || got != want {
			t.Fatalf("HeaderValue(%q, %q) = %q %v, want %q %v", hdr, key, got, ok, want, wantOK)
		}
		HeaderStatus(hdr)
		if ValidHeader(hdr) {
			if !bytes.HasPrefix(hdr, []byte(headerVersion)) || !bytes.HasSuffix(hdr, []byte("\r\n\r\n")) {
				t.Fatalf("ValidHeader accepted %q", hdr)
			}
		}

		if plainToken(key) && plainValue(value) {
			b := (&HeaderBuilder{}).Add(key, value).Bytes()
			if !ValidHeader(b) {
				t.Fatalf("built block %q is not valid", b)
			}
			if v, ok := HeaderValue(b, key); !ok || v != value {
				t.Fatalf("built %q, read %q %v", b, v, ok)
			}
		}
		if code >= 100 && code <= 999 && plainValue(desc) {
			b := NewStatusHeader(code, desc).Bytes()
			if c, d := HeaderStatus(b); c != code || d != desc {
				t.Fatalf("built %q, read status %d %q", b, c, d)
			}
			if !ValidHeader(b) {
				t.Fatalf("built status block %q is not valid", b)
			}
		}
	})
}

// plainToken reports whether s can be a header key: printable, without
// space or colon.
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

// plainValue reports whether s can be a header value or status text as
// written: printable, without leading or trailing space.
func plainValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}
