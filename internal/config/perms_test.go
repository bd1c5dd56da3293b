package config

import (
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
)

// TestPermissionsApply: each user gets its own permissions, or the
// default permissions when it has none; they are what internal/auth
// enforces.
func TestPermissionsApply(t *testing.T) {
	c, err := load(t, `authorization {
  default_permissions { publish: { deny: "secret.>" } }
  users: [
    { user: a, password: a, permissions: { pub: ["x.>"], sub: { allow: ["x.*", "q.* grp"], deny: "x.no" } } }
    { user: d, password: d }
    { user: r, password: r, permissions: { allow_responses: { max: 3 } } }
  ]
}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dc daemon.Config
	c.Apply(&dc)
	users := dc.Server.Auth.Users
	if len(users) != 3 || users[0].Permissions == nil || users[1].Permissions == nil {
		t.Fatalf("users %+v", users)
	}
	a, d := users[0].Permissions, users[1].Permissions
	if !a.CanPublish("x.y") || a.CanPublish("y") || !a.CanSubscribe("x.*", "") || a.CanSubscribe("x.no", "") || !a.CanSubscribe("q.a", "grp") || a.CanSubscribe("q.a", "") {
		t.Error("user a's permissions")
	}
	if d.CanPublish("secret.x") || !d.CanPublish("x") || !d.CanSubscribe(">", "") {
		t.Error("user d's default permissions")
	}
	if r := users[2].Permissions; r.Responses() == nil || r.Responses().MaxMsgs != 3 || r.Responses().Expires != 2*time.Minute || r.CanPublish("x") {
		t.Errorf("user r's allow_responses: %+v", r.Responses())
	}
}

func TestPermissionsErrors(t *testing.T) {
	for text, want := range map[string]string{
		"authorization { users: [ { user: a, password: b, permissions: { subscribe: { deny: \"a.>.b\" } } } ] }": `cairn.conf:1: authorization.users.permissions: permissions subscribe.deny: invalid subject "a.>.b"`,
		"authorization { default_permissions: { publish: [\"a b\"] } }":                                          `permissions publish.allow: invalid subject "a b"`,
		// One setting under two names, or a key twice in different case:
		// one would silently replace the other (the deny lost).
		"authorization { default_permissions { publish { deny: \"a.>\" } }, permissions { subscribe { deny: \"b.>\" } }, users: [ {user: x, password: y} ] }": "default_permissions and permissions name the same setting",
		"authorization { users: [ {user: x, password: y, permission { publish { deny: \"a.>\" } }, permissions { subscribe { deny: \"b.>\" } } } ] }":         "permission and permissions name the same setting",
		"authorization { users: [ {user: x, password: y, permissions { publish { deny: \"a.>\" }, pub { allow: \"b.>\" } } } ] }":                             "pub and publish name the same setting",
		"authorization { users: [ {user: x, password: y, permissions { publish { deny: \"a.>\", Deny: \"c.>\" } } } ] }":                                      "deny: given twice, in different case",
		"authorization { user: x, username: z, password: y }":                                                                                                 "user and username name the same setting",
		// An empty allow list is no list to nats-server: everything.
		"authorization { users: [ {user: x, password: y, permissions { publish: [] } } ] }":             "an empty allow list allows everything",
		"authorization { users: [ {user: x, password: y, permissions { subscribe { allow: [] } } } ] }": "an empty allow list allows everything",
	} {
		if _, err := load(t, text, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
}
