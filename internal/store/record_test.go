package store

import (
	"testing"
	"time"
)

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
