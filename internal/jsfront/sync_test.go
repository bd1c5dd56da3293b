package jsfront

import (
	"context"
	"errors"
	"testing"
	"time"
)

// syncMeta is a fakeMeta that can catch up: Sync applies what was
// committed elsewhere (pending) or fails.
type syncMeta struct {
	*fakeMeta
	pending map[string]string // account+"/"+stream → node, applied by Sync
	err     error
	syncs   int
}

func (m *syncMeta) Sync(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs++
	if m.err != nil {
		return m.err
	}
	for k, n := range m.pending {
		m.holders[k] = n
	}
	return nil
}

// TestSyncBeforeNotFound: a node whose placements lag behind a creation
// acknowledged elsewhere catches up before it answers, and then sends
// the request to the holder instead of answering "stream not found".
func TestSyncBeforeNotFound(t *testing.T) {
	sm := &syncMeta{fakeMeta: newFakeMeta(), pending: map[string]string{"A/S": "n2"}}
	r := newRig(t, func(o *Options) { o.Meta = sm })
	q, ch := req("$JS.API.STREAM.INFO.S", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	deadline := time.Now().Add(5 * time.Second)
	for len(r.net.sent()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := r.net.sent()
	if len(s) != 1 || s[0].node != "n2" || s[0].subject != "$JS.API.STREAM.INFO.S" || s[0].reply != "_INBOX.r" {
		t.Fatalf("sent %+v", s)
	}
	select {
	case <-ch:
		t.Fatal("answered locally")
	default:
	}
}

// TestSyncNobodyHolds: after the catch-up, a stream nobody holds is
// answered here (the API says "stream not found").
func TestSyncNobodyHolds(t *testing.T) {
	sm := &syncMeta{fakeMeta: newFakeMeta()}
	r := newRig(t, func(o *Options) { o.Meta = sm })
	q, ch := req("$JS.API.STREAM.INFO.S", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("not answered locally")
	}
	if sm.syncs != 1 {
		t.Fatalf("%d syncs", sm.syncs)
	}
}

// TestSyncHeldHereNoSync: a stream this node holds but that is not
// placed yet is answered at once, with no catch-up.
func TestSyncHeldHereNoSync(t *testing.T) {
	sm := &syncMeta{fakeMeta: newFakeMeta()}
	r := newRig(t, func(o *Options) { o.Meta = sm })
	r.local.setConfig("A", "S", []byte(`{"name":"S"}`))
	q, ch := req("$JS.API.STREAM.INFO.S", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	select {
	case <-ch:
	default:
		t.Fatal("not answered locally at once")
	}
	if sm.syncs != 0 {
		t.Fatalf("%d syncs", sm.syncs)
	}
}

// TestSyncUnavailable: a group that cannot confirm its state answers
// "temporarily unavailable", never "not found".
func TestSyncUnavailable(t *testing.T) {
	sm := &syncMeta{fakeMeta: newFakeMeta(), err: errors.New("no quorum")}
	r := newRig(t, func(o *Options) { o.Meta = sm })
	q, ch := req("$JS.API.STREAM.INFO.S", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	a := r.answerTo(t)
	_, e := apiErr(t, a.data)
	if e == nil || e.ErrCode != 10008 {
		t.Fatalf("answer %s", a.data)
	}
	select {
	case <-ch:
		t.Fatal("answered locally too")
	default:
	}
}
