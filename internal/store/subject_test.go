package store

import (
	"testing"
	"time"
)

func TestValidSubjectAndFilter(t *testing.T) {
	cases := []struct {
		s             string
		subject, filt bool
	}{
		{"a", true, true}, {"$KV.b.k", true, true}, {"a.b-c_d/e=f", true, true},
		{"", false, true}, {"a.*", false, true}, {"a.>", false, true}, {">", false, true},
		{"*.b.>", false, true}, {"a.>.b", false, false}, {"a..b", false, false},
		{".a", false, false}, {"a.", false, false}, {"a b", false, false}, {"a*b", true, true},
		{"a.b>", true, true},
	}
	for _, c := range cases {
		if got := validSubject(c.s); got != c.subject {
			t.Errorf("validSubject(%q) = %v", c.s, got)
		}
		if got := validFilter(c.s); got != c.filt {
			t.Errorf("validFilter(%q) = %v", c.s, got)
		}
	}
}

func FuzzSubjectMatch(f *testing.F) {
	for _, s := range [][2]string{{"a.*", "a.b"}, {"a.>", "a"}, {">", "x.y"}, {"*.b.>", "a.b.c.d"}, {"a.b", "a.b"}, {"a*.b", "a*.b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, subject string) {
		if !validFilter(filter) || !validSubject(subject) {
			return
		}
		want := subjectMatchesNaive(filter, subject)
		if got := subjectMatches(filter, subject); got != want {
			t.Fatalf("subjectMatches(%q, %q) = %v, want %v", filter, subject, got, want)
		}
		if got := matcher(filter)(subject); got != want {
			t.Fatalf("matcher(%q)(%q) = %v, want %v", filter, subject, got, want)
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	cases := []struct {
		m     Msg
		ttl   time.Duration
		msgID string
	}{
		{Msg{Subject: "a", Data: []byte{}, Time: 1}, 0, ""},
		{Msg{Subject: "$KV.b.k", Header: []byte("NATS/1.0\r\nA: b\r\n\r\n"), Data: []byte("v"), Time: -5}, -1, "id"},
		{Msg{Subject: "x", Data: make([]byte, 70000), Time: 1 << 62}, time.Hour, ""},
	}
	for _, c := range cases {
		r, err := decodeRecord(appendRecord(nil, &c.m, c.ttl, c.msgID))
		if err != nil || string(r.subject) != c.m.Subject || string(r.header) != string(c.m.Header) ||
			string(r.data) != string(c.m.Data) || r.time != c.m.Time || r.ttl != c.ttl || string(r.msgID) != c.msgID {
			t.Fatalf("round trip of %+v: %+v, %v", c.m, r, err)
		}
	}
	for _, bad := range [][]byte{nil, {recordVersion}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {recordVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a'}} {
		if _, err := decodeRecord(bad); err == nil {
			t.Fatalf("decodeRecord(%x) accepted", bad)
		}
	}
	id, seq, ok := parseMsgKey(msgKey(7, 1<<40))
	if !ok || id != 7 || seq != 1<<40 {
		t.Fatal("msg key round trip")
	}
}
