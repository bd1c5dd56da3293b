package compat

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream features the KV clients rely on, through nats.go's stream API.

func TestKVRepublish(t *testing.T) {
	tg := start(t)
	nc := connect(t, tg.URL)
	js, _ := jetstream.New(nc)
	sub, err := nc.SubscribeSync("repub.>")
	if err != nil {
		t.Fatal(err)
	}
	kv := createKV(t, js, jetstream.KeyValueConfig{
		Bucket:    "rp",
		RePublish: &jetstream.RePublish{Source: "$KV.rp.>", Destination: "repub.>"},
	})
	mustPut(t, kv, "a", "1", 1)
	mustPut(t, kv, "a", "2", 2)
	if err := kv.Delete(ctxT(t), "a"); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		seq, last uint64
		data, op  string
	}{{1, 0, "1", ""}, {2, 1, "2", ""}, {3, 2, "", "DEL"}}
	for _, w := range want {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		h := m.Header
		if m.Subject != "repub.a" || string(m.Data) != w.data || h.Get("Nats-Stream") != "KV_rp" ||
			h.Get("Nats-Subject") != "$KV.rp.a" || h.Get("Nats-Sequence") != strconv.FormatUint(w.seq, 10) ||
			h.Get("Nats-Last-Sequence") != strconv.FormatUint(w.last, 10) || h.Get("KV-Operation") != w.op {
			t.Fatalf("republished %s %q %v", m.Subject, m.Data, h)
		}
		if _, err := time.Parse(time.RFC3339Nano, h.Get("Nats-Time-Stamp")); err != nil {
			t.Fatalf("time stamp: %v", err)
		}
	}
	// A republish destination inside the stream's own subjects is refused.
	_, err = js.CreateKeyValue(ctxT(t), jetstream.KeyValueConfig{
		Bucket:    "cyc",
		RePublish: &jetstream.RePublish{Source: ">", Destination: "$KV.cyc.x.>"},
	})
	wantAPIErr(t, err, 10052)
}

func TestStreamWithoutDirectGet(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	ctx := ctxT(t)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}, MaxMsgsPerSubject: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, subj := range []string{"plain.a", "plain.b", "plain.a", "plain.a"} {
		ack, err := js.Publish(ctx, subj, []byte(strconv.Itoa(i)))
		if err != nil || ack.Sequence != uint64(i+1) || ack.Stream != "PLAIN" {
			t.Fatalf("publish %d: %+v %v", i, ack, err)
		}
	}
	// Without allow_direct the client reads through STREAM.MSG.GET.
	m, err := s.GetMsg(ctx, 2)
	if err != nil || string(m.Data) != "1" || m.Subject != "plain.b" {
		t.Fatalf("GetMsg(2) = %+v, %v", m, err)
	}
	if _, err := s.GetMsg(ctx, 1); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("GetMsg of a message beyond the per-subject limit: %v", err)
	}
	m, err = s.GetLastMsgForSubject(ctx, "plain.a")
	if err != nil || string(m.Data) != "3" || m.Sequence != 4 {
		t.Fatalf("GetLastMsgForSubject = %+v, %v", m, err)
	}
	if err := s.DeleteMsg(ctx, 3); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithDeletedDetails(true), jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	st := info.State
	if st.Msgs != 2 || st.FirstSeq != 2 || st.LastSeq != 4 || st.NumDeleted != 1 ||
		len(st.Deleted) != 1 || st.Deleted[0] != 3 || st.Subjects["plain.a"] != 1 || st.Subjects["plain.b"] != 1 {
		t.Fatalf("state = %+v", st)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject("plain.b")); err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(ctx, jetstream.WithStreamListSubject("plain.b"))
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if len(got) != 1 || got[0] != "PLAIN" {
		t.Fatalf("stream names for plain.b = %v", got)
	}
}

func TestKVBucketRefusesMessageDelete(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "nd"})
	mustPut(t, kv, "k", "v", 1)
	s, err := js.Stream(ctxT(t), "KV_nd")
	if err != nil {
		t.Fatal(err)
	}
	// nats.go flattens this error into text.
	if err := s.DeleteMsg(ctxT(t), 1); err == nil || !strings.Contains(err.Error(), "err_code=10057 description=message delete not permitted") {
		t.Fatalf("DeleteMsg on a bucket: %v", err)
	}
	mustGet(t, kv, "k", "v", 1)
}

func TestAccountInfo(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "acc"})
	mustPut(t, kv, "k", "v", 1)
	info, err := js.AccountInfo(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Streams != 1 || info.Store == 0 || info.API.Level < 1 || info.Limits.MaxStreams != -1 {
		t.Fatalf("account info = %+v", info)
	}
	// The legacy API reads the same endpoint.
	legacy, err := legacyJS(t, tg.URL).AccountInfo()
	if err != nil || legacy.Streams != 1 {
		t.Fatalf("legacy account info = %+v, %v", legacy, err)
	}
	var apiErr *nats.APIError
	_, err = legacyJS(t, tg.URL).StreamInfo("missing")
	if !errors.Is(err, nats.ErrStreamNotFound) && !errors.As(err, &apiErr) {
		t.Fatalf("legacy stream info of a missing stream: %v", err)
	}
}
