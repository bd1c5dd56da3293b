package server

import (
	"testing"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/subject"
)

// replyRuleClient returns a client with permissions (publish only
// "allowed.>") and the given non-queue subscriptions, recorded as Sub
// records them.
func replyRuleClient(t testing.TB, subjects ...string) *client {
	t.Helper()
	p, err := auth.NewPermissions(&auth.Rules{Allow: []string{"allowed.>"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{}
	c.perm.p.Store(p)
	c.acc.Store(newAccount(nil, "T"))
	c.mu.subs = make(map[string]*subscription)
	for i, s := range subjects {
		sub := &subscription{client: c, subject: s, sid: itoa(uint64(i))}
		c.mu.subs[sub.sid] = sub
		c.ownSubAdded(sub)
	}
	return c
}

// TestReplyRuleOwnSubsMatchesNaive: the index of a connection's own
// subscriptions answers as subject.Match over each of them would.
func TestReplyRuleOwnSubsMatchesNaive(t *testing.T) {
	patterns := []string{
		"_INBOX.a.*", "_INBOX.a.b", "_INBOX.*.e", "_INBOX.g.>", "_INBOX.>", ">", "*", "a",
		"*.b", "a.*.c", "*.*", "a.>", "_INBOX.a.*.>", "*.>",
	}
	replies := []string{
		"_INBOX.a.1", "_INBOX.a.b", "_INBOX.a.b.c", "_INBOX.z.e", "_INBOX.g.h", "_INBOX.g.h.i",
		"_INBOX", "_INBOX.g", "a", "b", "a.b", "x.b", "a.x.c", "a.x.c.d", "_INBOX.a.2.3",
	}
	for _, pattern := range patterns {
		c := replyRuleClient(t, pattern)
		for _, reply := range replies {
			if got, want := c.perm.own.matches([]byte(reply), c.mu.subs), subject.Match(pattern, reply); got != want {
				t.Errorf("subscription %q, reply %q: matches %v, subject.Match %v", pattern, reply, got, want)
			}
		}
	}
}

// TestReplyRuleOwnSubsCounts: two subscriptions on one subject keep it
// until both are gone; queue subscriptions are not recorded.
func TestReplyRuleOwnSubsCounts(t *testing.T) {
	c := replyRuleClient(t, "_INBOX.x.*", "_INBOX.x.*", "*.y")
	reply := []byte("_INBOX.x.1")
	for _, sid := range []string{"0", "1"} {
		if !c.perm.own.matches(reply, c.mu.subs) {
			t.Fatalf("before removing sid %s: no match", sid)
		}
		c.ownSubRemoved(c.mu.subs[sid])
		delete(c.mu.subs, sid)
	}
	if c.perm.own.matches(reply, c.mu.subs) || len(c.perm.own.bySubject) != 0 {
		t.Errorf("after removing both: %+v still matches", c.perm.own)
	}
	c.ownSubRemoved(c.mu.subs["2"])
	if c.perm.own.others != 0 {
		t.Errorf("others = %d after removing *.y", c.perm.own.others)
	}
	q := &subscription{client: c, subject: "_INBOX.q.*", queue: "g", sid: "3"}
	c.ownSubAdded(q)
	if c.perm.own.matches([]byte("_INBOX.q.1"), c.mu.subs) {
		t.Error("a queue subscription counted as the client's inbox")
	}
}

// TestReplyRuleCost: a request with the client's inbox as reply costs
// no allocation, nor does a client without permissions.
func TestReplyRuleCost(t *testing.T) {
	c := replyRuleClient(t, "_INBOX.Abcdefghijklmnopqrstuv.*")
	subj, reply := []byte("$JS.API.DIRECT.GET.KV_cfg.$KV.cfg.k"), []byte("_INBOX.Abcdefghijklmnopqrstuv.123456")
	if n := testing.AllocsPerRun(100, func() {
		var rc replyCheck
		if !rc.allows(c, subj, reply) {
			t.Fatal("inbox reply refused")
		}
	}); n != 0 {
		t.Errorf("inbox reply: %v allocations, want 0", n)
	}
	free := &client{}
	if n := testing.AllocsPerRun(100, func() {
		var rc replyCheck
		if !rc.allows(free, subj, []byte("$KV.cfg.evil")) {
			t.Fatal("client without permissions refused")
		}
	}); n != 0 {
		t.Errorf("client without permissions: %v allocations, want 0", n)
	}
	// A subject the client receives on stops being its inbox once an
	// in-process service listens there.
	svc := &subscription{handler: func(*Msg) {}, subject: "_INBOX.Abcdefghijklmnopqrstuv.>"}
	if err := c.account().subs.Insert(svc.subject, "", svc); err != nil {
		t.Fatal(err)
	}
	if c.mayBeAnsweredOn(reply) {
		t.Error("a reply an in-process service listens on counted as the client's inbox")
	}
	c.account().subs.Remove(svc.subject, "", svc)
	if !c.mayBeAnsweredOn(reply) {
		t.Error("inbox reply refused once the service is gone")
	}
	if !c.mayBeAnsweredOn([]byte("allowed.x")) || c.mayBeAnsweredOn([]byte("other.x")) {
		t.Error("publish permissions not applied to the reply")
	}
}

// BenchmarkReplyRuleInbox is the reply rule's cost for a request from a
// client with permissions whose reply is its nats.go inbox.
func BenchmarkReplyRuleInbox(b *testing.B) {
	c := replyRuleClient(b, "_INBOX.Abcdefghijklmnopqrstuv.*", "other.sub", "more.>")
	subj, reply := []byte("$JS.API.DIRECT.GET.KV_cfg.$KV.cfg.k"), []byte("_INBOX.Abcdefghijklmnopqrstuv.123456")
	b.ReportAllocs()
	for b.Loop() {
		var rc replyCheck
		if !rc.allows(c, subj, reply) {
			b.Fatal("refused")
		}
	}
}
