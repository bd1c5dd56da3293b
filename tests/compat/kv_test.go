package compat

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Tests of nats.go's jetstream KeyValue API (nats.go/jetstream/kv.go).

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantAPIErr checks that err is a JetStream API error with errCode.
func wantAPIErr(t *testing.T, err error, errCode jetstream.ErrorCode) {
	t.Helper()
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v (%T), want API error %d", err, err, errCode)
	}
	if apiErr.ErrorCode != errCode {
		t.Fatalf("got API error %d %q, want %d", apiErr.ErrorCode, apiErr.Description, errCode)
	}
}

func createKV(t *testing.T, js jetstream.JetStream, cfg jetstream.KeyValueConfig) jetstream.KeyValue {
	t.Helper()
	kv, err := js.CreateKeyValue(ctxT(t), cfg)
	if err != nil {
		t.Fatalf("CreateKeyValue(%s): %v", cfg.Bucket, err)
	}
	return kv
}

func mustPut(t *testing.T, kv jetstream.KeyValue, key, value string, wantRev uint64) {
	t.Helper()
	rev, err := kv.Put(ctxT(t), key, []byte(value))
	if err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
	if wantRev != 0 && rev != wantRev {
		t.Fatalf("Put(%s) revision %d, want %d", key, rev, wantRev)
	}
}

func mustGet(t *testing.T, kv jetstream.KeyValue, key, want string, wantRev uint64) {
	t.Helper()
	e, err := kv.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	if string(e.Value()) != want || e.Key() != key || e.Operation() != jetstream.KeyValuePut {
		t.Fatalf("Get(%s) = %q op %v, want %q", key, e.Value(), e.Operation(), want)
	}
	if wantRev != 0 && e.Revision() != wantRev {
		t.Fatalf("Get(%s) revision %d, want %d", key, e.Revision(), wantRev)
	}
}

func TestKVBucketLifecycle(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	ctx := ctxT(t)

	createKV(t, js, jetstream.KeyValueConfig{Bucket: "b1", Description: "first"})
	// Creating again with the same configuration is not an error.
	createKV(t, js, jetstream.KeyValueConfig{Bucket: "b1", Description: "first"})
	// A different configuration is.
	_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b1", History: 5})
	if !errors.Is(err, jetstream.ErrBucketExists) {
		t.Fatalf("re-create with other config: %v", err)
	}
	wantAPIErr(t, err, jetstream.JSErrCodeStreamNameInUse)

	kv, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b1", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := kv.Status(ctx); st.History() != 5 {
		t.Fatalf("history after update = %d", st.History())
	}
	if _, err := js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "nope"}); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("update missing bucket: %v", err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b2", History: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(ctx, "b2"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if _, err := js.KeyValue(ctx, "missing"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bind missing: %v", err)
	}
	if _, err := js.KeyValue(ctx, "bad.name"); !errors.Is(err, jetstream.ErrInvalidBucketName) {
		t.Fatalf("bind invalid: %v", err)
	}

	// A stream that is not a bucket is not listed.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	var names []string
	lister := js.KeyValueStoreNames(ctx)
	for n := range lister.Name() {
		names = append(names, n)
	}
	if lister.Error() != nil {
		t.Fatal(lister.Error())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"b1", "b2"}) {
		t.Fatalf("KeyValueStoreNames = %v", names)
	}
	var statuses []string
	sl := js.KeyValueStores(ctx)
	for st := range sl.Status() {
		statuses = append(statuses, st.Bucket())
	}
	if sl.Error() != nil {
		t.Fatal(sl.Error())
	}
	slices.Sort(statuses)
	if !slices.Equal(statuses, []string{"b1", "b2"}) {
		t.Fatalf("KeyValueStores = %v", statuses)
	}

	if err := js.DeleteKeyValue(ctx, "b1"); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, "b1"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := js.KeyValue(ctx, "b1"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("bind deleted: %v", err)
	}
}

func TestKVPutGet(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "pg", History: 5})
	ctx := ctxT(t)

	mustPut(t, kv, "a", "1", 1)
	mustPut(t, kv, "b", "2", 2)
	mustPut(t, kv, "a", "3", 3)
	mustPut(t, kv, "deep/path_x=y.z", "4", 4)
	mustGet(t, kv, "a", "3", 3)
	mustGet(t, kv, "deep/path_x=y.z", "4", 4)

	e, err := kv.GetRevision(ctx, "a", 1)
	if err != nil || string(e.Value()) != "1" || e.Revision() != 1 {
		t.Fatalf("GetRevision(a,1) = %v, %v", e, err)
	}
	if _, err := kv.GetRevision(ctx, "a", 2); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("GetRevision of another key's revision: %v", err)
	}
	if _, err := kv.Get(ctx, "nope"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get missing: %v", err)
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>"} {
		if _, err := kv.Put(ctx, bad, nil); !errors.Is(err, jetstream.ErrInvalidKey) {
			t.Fatalf("Put(%q): %v", bad, err)
		}
	}
	// Empty and binary values round-trip.
	mustPut(t, kv, "empty", "", 0)
	mustGet(t, kv, "empty", "", 0)
	bin := []byte{0, 1, 2, '\r', '\n', 255}
	if _, err := kv.Put(ctx, "bin", bin); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "bin"); err != nil || !bytes.Equal(e.Value(), bin) {
		t.Fatalf("binary value: %v %v", e, err)
	}
	if e.Created().IsZero() || time.Since(e.Created()) > time.Minute {
		t.Fatalf("created = %v", e.Created())
	}
}

func TestKVCreateUpdate(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "cu"})
	ctx := ctxT(t)

	rev, err := kv.Create(ctx, "k", []byte("v1"))
	if err != nil || rev != 1 {
		t.Fatalf("Create = %d, %v", rev, err)
	}
	_, err = kv.Create(ctx, "k", []byte("v2"))
	if !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second Create: %v", err)
	}
	wantAPIErr(t, err, jetstream.JSErrCodeStreamWrongLastSequence)

	rev, err = kv.Update(ctx, "k", []byte("v2"), 1)
	if err != nil || rev != 2 {
		t.Fatalf("Update = %d, %v", rev, err)
	}
	_, err = kv.Update(ctx, "k", []byte("v3"), 1)
	wantAPIErr(t, err, jetstream.JSErrCodeStreamWrongLastSequence)
	mustGet(t, kv, "k", "v2", 2)

	// Create succeeds again after a delete and after a purge.
	if err := kv.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if rev, err = kv.Create(ctx, "k", []byte("v4")); err != nil || rev != 4 {
		t.Fatalf("Create after delete = %d, %v", rev, err)
	}
	if err := kv.Purge(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if rev, err = kv.Create(ctx, "k", []byte("v5")); err != nil || rev != 6 {
		t.Fatalf("Create after purge = %d, %v", rev, err)
	}
	// Update of a key that was never written expects revision 0.
	if rev, err = kv.Update(ctx, "fresh", []byte("x"), 0); err != nil || rev != 7 {
		t.Fatalf("Update(fresh, 0) = %d, %v", rev, err)
	}
}

func TestKVDeletePurge(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "dp", History: 10})
	ctx := ctxT(t)

	mustPut(t, kv, "k", "1", 1)
	mustPut(t, kv, "k", "2", 2)
	// Deleting with a stale expected revision fails; the right one works.
	err := kv.Delete(ctx, "k", jetstream.LastRevision(1))
	wantAPIErr(t, err, jetstream.JSErrCodeStreamWrongLastSequence)
	if err := kv.Delete(ctx, "k", jetstream.LastRevision(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get deleted: %v", err)
	}
	// The delete marker is revision 3; history is kept.
	if e, err := kv.GetRevision(ctx, "k", 1); err != nil || string(e.Value()) != "1" {
		t.Fatalf("history before purge: %v %v", e, err)
	}
	// Deleting a key that never existed succeeds and writes a marker.
	if err := kv.Delete(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, kv, "k", "5", 5)
	if err := kv.Purge(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// Purge leaves only its marker for the key.
	if _, err := kv.GetRevision(ctx, "k", 1); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("history after purge: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Values() != 2 { // the marker of "never" and the purge marker of "k"
		t.Fatalf("values after purge = %d", st.Values())
	}
	// A delete marker on the stream is a plain message with KV-Operation.
	s, err := js.Stream(ctx, "KV_dp")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, "$KV.dp.k")
	if err != nil || m.Header.Get("KV-Operation") != "PURGE" || m.Header.Get("Nats-Rollup") != "sub" || len(m.Data) != 0 {
		t.Fatalf("purge marker = %+v, %v", m, err)
	}
}

func TestKVStatusConfig(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	cfg := jetstream.KeyValueConfig{
		Bucket: "st", Description: "desc", History: 3, TTL: time.Hour,
		MaxValueSize: 1024, MaxBytes: 1 << 20, Storage: jetstream.MemoryStorage,
		Metadata: map[string]string{"owner": "me"},
	}
	kv := createKV(t, js, cfg)
	ctx := ctxT(t)
	mustPut(t, kv, "a", "x", 1)
	mustPut(t, kv, "a", "y", 2)

	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != "st" || st.Values() != 2 || st.History() != 3 || st.TTL() != time.Hour ||
		st.BackingStore() != "JetStream" || st.Bytes() == 0 || st.IsCompressed() {
		t.Fatalf("status = bucket %s values %d history %d ttl %v store %s bytes %d",
			st.Bucket(), st.Values(), st.History(), st.TTL(), st.BackingStore(), st.Bytes())
	}
	got := st.Config()
	if got.Description != "desc" || got.MaxValueSize != 1024 || got.MaxBytes != 1<<20 ||
		got.Storage != jetstream.MemoryStorage || got.Metadata["owner"] != "me" || got.Replicas != 1 {
		t.Fatalf("config = %+v", got)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Config.Name != "KV_st" || !info.Config.AllowDirect || !info.Config.DenyDelete ||
		!info.Config.AllowRollup || info.Config.Discard != jetstream.DiscardNew ||
		info.Config.Duplicates != 2*time.Minute || info.State.LastSeq != 2 || info.State.NumSubjects != 1 {
		t.Fatalf("stream info = %+v", info)
	}
}

func TestKVHistoryLimit(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "h", History: 3})
	ctx := ctxT(t)
	for i := 1; i <= 5; i++ {
		mustPut(t, kv, "k", string(rune('0'+i)), uint64(i))
	}
	if _, err := kv.GetRevision(ctx, "k", 2); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("revision beyond history: %v", err)
	}
	if e, err := kv.GetRevision(ctx, "k", 3); err != nil || string(e.Value()) != "3" {
		t.Fatalf("oldest kept revision: %v %v", e, err)
	}
	if st, _ := kv.Status(ctx); st.Values() != 3 {
		t.Fatalf("values = %d", st.Values())
	}
	if _, err := newJS(t, tg.URL).CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "h2", History: 65}); !errors.Is(err, jetstream.ErrHistoryTooLarge) {
		t.Fatalf("history 65: %v", err)
	}
}

func TestKVMaxValueSize(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "mv", MaxValueSize: 16})
	ctx := ctxT(t)
	mustPut(t, kv, "k", "0123456789abcdef", 1)
	_, err := kv.Put(ctx, "k", []byte("0123456789abcdefg"))
	wantAPIErr(t, err, 10054)
	mustGet(t, kv, "k", "0123456789abcdef", 1)
}

func TestKVMaxBucketSize(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "mb", MaxBytes: 1000})
	ctx := ctxT(t)
	value := bytes.Repeat([]byte("x"), 100)
	var err error
	n := 0
	for ; n < 100; n++ {
		if _, err = kv.Put(ctx, "k"+string(rune('a'+n%26))+string(rune('a'+n/26)), value); err != nil {
			break
		}
	}
	if n == 0 || n >= 100 {
		t.Fatalf("stored %d values of 100 bytes in a 1000-byte bucket", n)
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10077 || apiErr.Description != "maximum bytes exceeded" {
		t.Fatalf("full bucket: %v", err)
	}
	if st, _ := kv.Status(ctx); st.Values() != uint64(n) || st.Bytes() > 1000 {
		t.Fatalf("values %d bytes %d after %d puts", st.Values(), st.Bytes(), n)
	}
}

func TestKVTTL(t *testing.T) {
	tg := start(t)
	kv := createKV(t, newJS(t, tg.URL), jetstream.KeyValueConfig{Bucket: "ttl", TTL: time.Second})
	ctx := ctxT(t)
	mustPut(t, kv, "k", "v", 1)
	mustGet(t, kv, "k", "v", 1)
	eventually(t, 5*time.Second, "the value to expire", func() bool {
		_, err := kv.Get(ctx, "k")
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	if st, _ := kv.Status(ctx); st.Values() != 0 {
		t.Fatalf("values after expiry = %d", st.Values())
	}
}

func TestKVPerKeyTTLWithLimitMarkers(t *testing.T) {
	tg := start(t)
	js := newJS(t, tg.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "pk", LimitMarkerTTL: time.Second})
	ctx := ctxT(t)

	st, _ := kv.Status(ctx)
	if st.LimitMarkerTTL() != time.Second {
		t.Fatalf("LimitMarkerTTL = %v", st.LimitMarkerTTL())
	}
	if _, err := kv.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, kv, "stay", "v", 2)
	stream, err := js.Stream(ctx, "KV_pk")
	if err != nil {
		t.Fatal(err)
	}
	// When the value expires, a marker takes its place ...
	eventually(t, 5*time.Second, "a MaxAge limit marker", func() bool {
		m, err := stream.GetLastMsgForSubject(ctx, "$KV.pk.k")
		return err == nil && m.Header.Get("Nats-Marker-Reason") == "MaxAge"
	})
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get expired: %v", err)
	}
	// ... and the marker expires in its turn.
	eventually(t, 5*time.Second, "the marker to expire", func() bool {
		_, err := stream.GetLastMsgForSubject(ctx, "$KV.pk.k")
		return errors.Is(err, jetstream.ErrMsgNotFound)
	})
	mustGet(t, kv, "stay", "v", 2)

	// A purge with a TTL leaves a marker that expires.
	if err := kv.Purge(ctx, "stay", jetstream.PurgeTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the purge marker to expire", func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	// A TTL on a bucket without per-key TTLs is refused.
	plain := createKV(t, js, jetstream.KeyValueConfig{Bucket: "plain"})
	_, err = plain.Create(ctx, "k", []byte("v"), jetstream.KeyTTL(time.Second))
	wantAPIErr(t, err, 10166)
}

func TestKVRestartPersistence(t *testing.T) {
	if usePeer() {
		t.Skip("restart is tested against cairn only")
	}
	tg := start(t)
	js := newJS(t, tg.URL)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "p", History: 4, Description: "kept"})
	mustPut(t, kv, "a", "1", 1)
	mustPut(t, kv, "a", "2", 2)
	if err := kv.Delete(ctxT(t), "b"); err != nil {
		t.Fatal(err)
	}

	tg.restart(t)
	js = newJS(t, tg.URL)
	ctx := ctxT(t)
	kv, err := js.KeyValue(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, kv, "a", "2", 2)
	if e, err := kv.GetRevision(ctx, "a", 1); err != nil || string(e.Value()) != "1" {
		t.Fatalf("history after restart: %v %v", e, err)
	}
	st, _ := kv.Status(ctx)
	if st.History() != 4 || st.Config().Description != "kept" || st.Values() != 3 {
		t.Fatalf("status after restart: history %d values %d", st.History(), st.Values())
	}
	// Revisions continue where they stopped, and Create/Update still check.
	mustPut(t, kv, "a", "4", 4)
	if _, err := kv.Create(ctx, "a", nil); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create existing after restart: %v", err)
	}
}

// TestKVServerSideValidation checks what the server refuses even from a
// client that does not validate: keys outside the KV rules published
// straight to a bucket's subjects, and invalid bucket names.
func TestKVServerSideValidation(t *testing.T) {
	if usePeer() {
		t.Skip("nats-server stores such keys; the refusal is Cairn's")
	}
	tg := start(t)
	nc := connect(t, tg.URL)
	js, _ := jetstream.New(nc)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: "v"})
	ctx := ctxT(t)
	for _, subj := range []string{"$KV.v.a+b", "$KV.v.ключ", "$KV.v.a$b"} {
		_, err := js.Publish(ctx, subj, []byte("x"))
		wantAPIErr(t, err, 10003)
	}
	if st, _ := kv.Status(ctx); st.Values() != 0 {
		t.Fatalf("invalid keys were stored: %d values", st.Values())
	}
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KV_a+b", Subjects: []string{"$KV.a+b.>"}})
	wantAPIErr(t, err, 10052)
}
