package compat

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Tests of nats.go's legacy KeyValue API (nats.go/kv.go), still used by
// many applications.

func wantLegacyAPIErr(t *testing.T, err error, errCode nats.ErrorCode) {
	t.Helper()
	var apiErr *nats.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCode {
		t.Fatalf("got %v, want API error %d", err, errCode)
	}
}

func TestLegacyKVBuckets(t *testing.T) {
	tg := start(t)
	js := legacyJS(t, tg.URL)

	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "l1", History: 2, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if kv.Bucket() != "l1" {
		t.Fatalf("bucket = %s", kv.Bucket())
	}
	if _, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "l2", Storage: nats.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue("l1"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if _, err := js.KeyValue("zz"); !errors.Is(err, nats.ErrBucketNotFound) {
		t.Fatalf("bind missing: %v", err)
	}
	if _, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "l3"}); err != nil {
		t.Fatal(err)
	}
	// The legacy API has no UpdateKeyValue: a re-create with another
	// configuration is refused.
	if _, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "l1", History: 4}); !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		t.Fatalf("re-create with other config: %v", err)
	}
	var names []string
	for n := range js.KeyValueStoreNames() {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"l1", "l2", "l3"}) {
		t.Fatalf("names = %v", names)
	}
	n := 0
	for st := range js.KeyValueStores() {
		if st.Bucket() == "l1" && (st.History() != 2 || st.TTL() != time.Hour) {
			t.Fatalf("l1 status: history %d ttl %v", st.History(), st.TTL())
		}
		n++
	}
	if n != 3 {
		t.Fatalf("KeyValueStores listed %d", n)
	}
	if err := js.DeleteKeyValue("l2"); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue("l2"); !errors.Is(err, nats.ErrStreamNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestLegacyKVOperations(t *testing.T) {
	tg := start(t)
	js := legacyJS(t, tg.URL)
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "ops", History: 5})
	if err != nil {
		t.Fatal(err)
	}

	if rev, err := kv.Put("a", []byte("1")); err != nil || rev != 1 {
		t.Fatalf("Put = %d, %v", rev, err)
	}
	if rev, err := kv.PutString("a", "2"); err != nil || rev != 2 {
		t.Fatalf("PutString = %d, %v", rev, err)
	}
	e, err := kv.Get("a")
	if err != nil || string(e.Value()) != "2" || e.Revision() != 2 || e.Operation() != nats.KeyValuePut {
		t.Fatalf("Get = %v, %v", e, err)
	}
	if e, err := kv.GetRevision("a", 1); err != nil || string(e.Value()) != "1" {
		t.Fatalf("GetRevision = %v, %v", e, err)
	}
	if _, err := kv.Get("none"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("Get missing: %v", err)
	}

	if rev, err := kv.Create("c", []byte("x")); err != nil || rev != 3 {
		t.Fatalf("Create = %d, %v", rev, err)
	}
	_, err = kv.Create("c", []byte("y"))
	if !errors.Is(err, nats.ErrKeyExists) {
		t.Fatalf("second Create: %v", err)
	}
	if rev, err := kv.Update("c", []byte("y"), 3); err != nil || rev != 4 {
		t.Fatalf("Update = %d, %v", rev, err)
	}
	_, err = kv.Update("c", []byte("z"), 3)
	wantLegacyAPIErr(t, err, nats.JSErrCodeStreamWrongLastSequence)

	err = kv.Delete("c", nats.LastRevision(3))
	wantLegacyAPIErr(t, err, nats.JSErrCodeStreamWrongLastSequence)
	if err := kv.Delete("c", nats.LastRevision(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get("c"); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("Get deleted: %v", err)
	}
	if rev, err := kv.Create("c", []byte("again")); err != nil || rev != 6 {
		t.Fatalf("Create after delete = %d, %v", rev, err)
	}
	if err := kv.Purge("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.GetRevision("a", 1); !errors.Is(err, nats.ErrKeyNotFound) {
		t.Fatalf("history after purge: %v", err)
	}

	st, err := kv.Status()
	if err != nil {
		t.Fatal(err)
	}
	// The purge marker of "a" and the four revisions of "c".
	if st.Values() != 5 || st.History() != 5 || st.Bucket() != "ops" || st.BackingStore() != "JetStream" {
		t.Fatalf("status: values %d history %d", st.Values(), st.History())
	}
}
