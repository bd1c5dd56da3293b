package auth

import (
	"errors"
	"testing"
)

func mustPerms(t *testing.T, pub, sub *Rules) *Permissions {
	t.Helper()
	p, err := NewPermissions(pub, sub)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPermissionsPublish(t *testing.T) {
	p := mustPerms(t, &Rules{Allow: []string{"foo.*", "bar.>", "$KV.cfg.>"}, Deny: []string{"foo.secret", "$KV.cfg.admin.>"}}, nil)
	for subj, want := range map[string]bool{
		"foo.a":           true,
		"foo.secret":      false, // deny wins
		"foo":             false,
		"foo.a.b":         false,
		"bar.x.y":         true,
		"baz":             false, // not in the allow list
		"$KV.cfg.k":       true,
		"$KV.cfg.admin.x": false,
		// Wildcard tokens in a published subject are compared as
		// nats-server's sublist compares them: only a wildcard pattern
		// token matches them.
		"foo.*":       true,
		"foo.>":       true,
		"$KV.cfg.*":   true,
		"$KV.other.k": false,
		"bar.*":       true,
	} {
		if got := p.CanPublish(subj); got != want {
			t.Errorf("CanPublish(%q) = %v, want %v", subj, got, want)
		}
	}
	deny := mustPerms(t, &Rules{Deny: []string{"secret.>"}}, nil)
	for subj, want := range map[string]bool{"a": true, "secret.x": false, "secret.*": false, "secret": true} {
		if got := deny.CanPublish(subj); got != want {
			t.Errorf("deny only: CanPublish(%q) = %v, want %v", subj, got, want)
		}
	}
	// An empty allow list allows nothing.
	if none := mustPerms(t, &Rules{Allow: []string{}}, nil); none.CanPublish("a") || !none.CanSubscribe("a", "") {
		t.Error("empty publish allow list: want publish refused, subscribe allowed")
	}
}

func TestPermissionsSubscribe(t *testing.T) {
	p := mustPerms(t, nil, &Rules{Allow: []string{"foo.*", "bar.>", "_INBOX.>", "q.* workers", "qq.*", "qq.* v1"}, Deny: []string{"foo.secret", "bar.private.>", "qd.* bad"}})
	type tc struct {
		subj, queue string
		want        bool
	}
	for _, c := range []tc{
		{"foo.a", "", true},
		{"foo.*", "", true}, // covered by foo.*
		{"foo.>", "", false},
		{"foo.secret", "", false}, // deny
		{"bar.>", "", true},
		{"bar.private.x", "", false},
		{"bar.private.>", "", false},
		{"bar.*", "", true}, // overlaps no deny entry matching it literally
		{"bar.private.*", "", false},
		{">", "", false},
		{"_INBOX.abc", "", true},
		{"q.a", "", false}, // only the queue group workers
		{"q.a", "workers", true},
		{"q.a", "others", false},
		{"qq.a", "", true},
		{"qq.a", "v1", true},
		{"qq.a", "v2", false}, // a queue entry limits the groups
		{"foo.a", "any", true},
	} {
		if got := p.CanSubscribe(c.subj, c.queue); got != c.want {
			t.Errorf("CanSubscribe(%q, %q) = %v, want %v", c.subj, c.queue, got, c.want)
		}
	}
	// Wildcard subscriptions that overlap a deny entry are allowed and
	// filtered at delivery.
	if !p.Overlaps("foo.*", "") || !p.Overlaps("bar.>", "") || p.Overlaps("foo.a", "") || p.Overlaps("_INBOX.>", "") {
		t.Error("Overlaps")
	}
	if p.Delivers("foo.secret", "") || !p.Delivers("foo.a", "") || p.Delivers("bar.private.x", "") || !p.Delivers("bar.public", "") {
		t.Error("Delivers")
	}
	if !p.QueueDeny() || p.Delivers("qd.x", "bad") || !p.Delivers("qd.x", "good") || !p.Delivers("qd.x", "") {
		t.Error("queue deny")
	}
	d := mustPerms(t, nil, &Rules{Deny: []string{"foo.*"}})
	for subj, want := range map[string]bool{"foo.>": false, "foo.*": false, "foo.a": false, "foo.a.b": true, ">": true, "foo": true} {
		if got := d.CanSubscribe(subj, ""); got != want {
			t.Errorf("deny foo.*: CanSubscribe(%q) = %v, want %v", subj, got, want)
		}
	}
	if !d.Overlaps(">", "") || d.Delivers("foo.a", "") || !d.Delivers("foo.a.b", "") {
		t.Error("deny foo.*: > overlaps and foo.a is filtered")
	}
}

// CanPublishAll answers for every subject of a pattern: an allow entry
// must cover it whole and no deny entry may overlap it.
func TestPermissionsPublishAll(t *testing.T) {
	p := mustPerms(t, &Rules{Allow: []string{"foo.*", "bar.>", "$KV.cfg.>"}, Deny: []string{"foo.secret", "$KV.cfg.admin.>"}}, nil)
	for pattern, want := range map[string]bool{
		"foo.a":         true,
		"foo.*":         false, // covers foo.secret
		"bar.>":         true,
		"bar.*.x":       true,
		"bar":           false,
		"$KV.cfg.*":     true,
		"$KV.cfg.>":     false, // covers $KV.cfg.admin.x
		"$KV.cfg.*.x":   false, // $KV.cfg.admin.x
		"$KV.cfg.a.*":   true,
		">":             false,
		"$KV.other.>":   false,
		"foo.secret":    false,
		"foo.*.*":       false,
		"$KV.cfg.adm.>": true,
	} {
		if got := p.CanPublishAll(pattern); got != want {
			t.Errorf("CanPublishAll(%q) = %v, want %v", pattern, got, want)
		}
	}
	var none *Permissions
	if !none.CanPublishAll(">") {
		t.Error("nil permissions: want everything")
	}
	if deny := mustPerms(t, &Rules{Deny: []string{"secret.x"}}, nil); deny.CanPublishAll("secret.*") || !deny.CanPublishAll("public.>") {
		t.Error("deny only: want secret.* refused, public.> allowed")
	}
}

// CanSubscribeAll answers for a subscription without a delivery
// filter: an allow entry without a queue group must cover the pattern
// and no deny entry without one may overlap it.
func TestPermissionsSubscribeAll(t *testing.T) {
	p := mustPerms(t, nil, &Rules{Allow: []string{"_INBOX_a.>", "$KV.cfg.>", "jobs.* workers"}, Deny: []string{"$KV.cfg.secret", "_INBOX_a.x q"}})
	for pattern, want := range map[string]bool{
		"_INBOX_a.>":    true, // the queue deny entry does not touch plain delivery
		"$KV.cfg.>":     false,
		"$KV.cfg.k":     true,
		"$KV.cfg.*.x":   true,
		"jobs.a":        false, // allowed only in queue group workers
		"_INBOX.>":      false,
		"$KV.cfg.secre": true,
	} {
		if got := p.CanSubscribeAll(pattern); got != want {
			t.Errorf("CanSubscribeAll(%q) = %v, want %v", pattern, got, want)
		}
	}
	var none *Permissions
	if !none.CanSubscribeAll(">") {
		t.Error("nil permissions: want everything")
	}
}

func TestPermissionsNil(t *testing.T) {
	var p *Permissions
	if !p.CanPublish("a") || !p.CanSubscribe(">", "q") || p.Overlaps(">", "") || !p.Delivers("a", "") || p.QueueDeny() {
		t.Error("nil permissions allow everything")
	}
	if p, err := NewPermissions(nil, &Rules{}); p != nil || err != nil {
		t.Errorf("no rules: %v, %v; want nil, nil", p, err)
	}
	for _, bad := range []string{"foo..bar", "", "foo.>.bar", "a b c"} {
		if _, err := NewPermissions(&Rules{Allow: []string{bad}}, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("publish allow %q: err %v, want ErrConfig", bad, err)
		}
	}
}

func TestAuthenticatePermissions(t *testing.T) {
	p := mustPerms(t, &Rules{Allow: []string{"a"}}, nil)
	a, err := New(Config{Users: []User{{Name: "u", Password: "p", Permissions: p}, {Name: "free", Password: "p"}}, NoAuthUser: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := a.Authenticate(Credentials{User: "u", Password: "p"}, nil); err != nil || id.Permissions != p {
		t.Errorf("u: %+v, %v", id, err)
	}
	if id, err := a.Authenticate(Credentials{User: "free", Password: "p"}, nil); err != nil || id.Permissions != nil {
		t.Errorf("free: %+v, %v", id, err)
	}
	if id, ok := a.NoAuthIdentity(); !ok || id.Permissions != p {
		t.Errorf("no_auth_user: %+v", id)
	}
}

// Checks do not allocate.
func TestPermissionsAllocs(t *testing.T) {
	p := mustPerms(t, &Rules{Allow: []string{"foo.*", "bar.>"}, Deny: []string{"foo.x"}}, &Rules{Deny: []string{"foo.x"}})
	if n := testing.AllocsPerRun(100, func() {
		p.CanPublish("bar.a.b")
		p.Delivers("foo.y", "")
	}); n != 0 {
		t.Errorf("%v allocations per check", n)
	}
}

// allow_responses turns publish into deny-all unless allowed, and takes
// nats-server's defaults for zero values.
func TestPermissionsResponses(t *testing.T) {
	p, err := NewPermissionsWithResponses(nil, nil, &Responses{})
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	if r := p.Responses(); r.MaxMsgs != DefaultResponseMaxMsgs || r.Expires != DefaultResponseExpires {
		t.Errorf("defaults %+v", r)
	}
	if p.CanPublish("a") || !p.CanSubscribe(">", "") {
		t.Error("allow_responses alone: publish nothing, subscribe anything")
	}
	p, err = NewPermissionsWithResponses(&Rules{Allow: []string{"svc.>"}, Deny: []string{"svc.no"}}, nil, &Responses{MaxMsgs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !p.CanPublish("svc.a") || p.CanPublish("svc.no") || p.CanPublish("x") || p.Responses().MaxMsgs != 3 {
		t.Error("allow_responses with a publish allow list")
	}
	p, _ = NewPermissionsWithResponses(&Rules{Deny: []string{"x"}}, nil, &Responses{})
	if p.CanPublish("y") {
		t.Error("allow_responses with a deny list only: the allow list is empty")
	}
	var none *Permissions
	if none.Responses() != nil {
		t.Error("nil permissions have no responses")
	}
}
