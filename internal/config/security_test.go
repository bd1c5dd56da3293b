package config

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/testcert"
)

const nkeyUser = "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

func TestSecurityKeys(t *testing.T) {
	c, err := load(t, `
authorization {
  timeout: 1.5
  default_permissions { publish: "pub.>" }
  users: [
    { user: a, password: pa, permissions: { publish: { allow: ["x.>"], deny: "x.secret" }, subscribe: ["_INBOX.>", "q.* workers"], allow_responses: { max: 2, expires: "1m" } } }
    { nkey: `+nkeyUser+` }
  ]
}
accounts {
  B: { users: [ { user: b, pass: pb } ], jetstream: { max_mem: 1G, max_file: "2G", max_streams: 3, max_consumers: 4 } }
  A: { users: [ { username: c, password: pc, permissions: { pub: "y", sub: { deny: ">" } } } ], jetstream: enabled }
  SYS: {}
}
no_auth_user: a
system_account: SYS
allow_non_tls: true
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Authorization
	wantAuth := &Authorization{
		Timeout:            1500 * time.Millisecond,
		DefaultPermissions: &Permissions{Publish: &SubjectPermission{Allow: []string{"pub.>"}}},
		Users: []User{
			{Name: "a", Password: "pa", Permissions: &Permissions{
				Publish:   &SubjectPermission{Allow: []string{"x.>"}, Deny: []string{"x.secret"}},
				Subscribe: &SubjectPermission{Allow: []string{"_INBOX.>", "q.* workers"}},
				Responses: &ResponsePermission{MaxMsgs: 2, Expires: time.Minute},
			}},
			{Nkey: nkeyUser},
		},
	}
	if !reflect.DeepEqual(a, wantAuth) {
		t.Errorf("authorization\n%+v\nwant\n%+v", a, wantAuth)
	}
	if len(c.Accounts) != 3 || c.Accounts[0].Name != "A" || c.Accounts[1].Name != "B" {
		t.Fatalf("accounts %+v", c.Accounts)
	}
	if got := *c.Accounts[1].JetStream; got != (AccountJetStream{MaxMemory: 1e9, MaxFile: 2 << 30, MaxStreams: 3, MaxConsumers: 4}) {
		t.Errorf("account B jetstream %+v", got)
	}
	if u := c.Accounts[0].Users[0]; u.Name != "c" || u.Account != "A" || u.Permissions.Subscribe.Deny[0] != ">" {
		t.Errorf("account A user %+v", u)
	}
	if c.NoAuthUser != "a" || c.SystemAccount != "SYS" || !c.AllowNonTLS {
		t.Errorf("no_auth_user %q system_account %q allow_non_tls %v", c.NoAuthUser, c.SystemAccount, c.AllowNonTLS)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.SelfSigned(t, dir, "cert")
	c, err := load(t, `tls { cert_file: "`+cert+`", key_file: "`+key+`", ca_file: "`+cert+`", verify_and_map: true, timeout: 3, handshake_first: "300ms" }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CertFile: cert, KeyFile: key, CAFile: cert, Verify: true, VerifyAndMap: true, Timeout: 3 * time.Second, HandshakeFirst: true, HandshakeFirstFallback: 300 * time.Millisecond}
	if c.TLS.config == nil || c.TLS.config.MinVersion != tls.VersionTLS12 || c.TLS.config.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("tls config %+v", c.TLS.config)
	}
	c.TLS.config = nil
	if *c.TLS != want {
		t.Errorf("tls %+v, want %+v", *c.TLS, want)
	}
	// Two users one certificate would map to: -t finds it.
	mapped := `tls { cert_file: "` + cert + `", key_file: "` + key + `", ca_file: "` + cert + `", verify_and_map: true }
authorization { users: [ { user: "CN=alice,O=Acme" } ] }
accounts { B { users: [ { user: "o=Acme, cn=alice" } ] } }`
	if _, err := load(t, mapped, nil); err == nil || !strings.Contains(err.Error(), `users: users "CN=alice,O=Acme" and "o=Acme, cn=alice" name the same certificate subject`) {
		t.Errorf("users with the same subject under verify_and_map: %v", err)
	}
	for _, tt := range []struct{ text, want string }{
		{`tls { cert_file: "` + cert + `" }`, "cairn.conf:1: tls: cert_file and key_file are required"},
		{`tls { cert_file: "` + cert + `", key_file: "` + cert + `" }`, "tls: cannot load the certificate"},
		{"tls {\n cert_file: \"/nonexistent.pem\"\n}", `cairn.conf:2: tls.cert_file: cannot read "/nonexistent.pem"`},
		{"tls {\n cipher_suites: [\"x\"]\n}", "cairn.conf:2: tls.cipher_suites: not supported by Cairn; refusing"},
		{"tls {\n verify: maybe\n}", "cairn.conf:2: tls.verify: expected true or false"},
	} {
		if _, err := load(t, tt.text, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestSecurityErrors(t *testing.T) {
	refused := "not supported by Cairn; refusing to run with less protection than configured"
	tests := []struct{ name, text, want string }{
		{"operator", "port: 1\noperator: /op.jwt", "cairn.conf:2: operator: " + refused},
		{"operators", "operators: []", "operators: " + refused},
		{"resolver", "resolver: MEMORY", "resolver: " + refused},
		{"resolver_preload", "resolver_preload: {}", "resolver_preload: " + refused},
		{"trusted", "trusted: x", "trusted: " + refused},
		{"trusted_keys", "trusted_keys: [x]", "trusted_keys: " + refused},
		{"auth_callout top", "auth_callout: {}", "auth_callout: " + refused},
		{"auth_callout", "authorization {\n  auth_callout { issuer: x }\n}", "cairn.conf:2: authorization.auth_callout: " + refused},
		{"exports", "accounts {\n  A {\n    exports: [ { stream: x } ]\n  }\n}", "cairn.conf:3: accounts.A.exports: " + refused},
		{"imports", "accounts { A { imports: [] } }", "accounts.A.imports: " + refused},
		{"account nkey", "accounts { A { nkey: ABC } }", "accounts.A.nkey: " + refused},
		{"leafnodes authorization", "leafnodes {\n  authorization { user: a, password: b }\n}", "cairn.conf:2: leafnodes.authorization: " + refused},
		{"leafnodes tls", "leafnodes { tls {} }", "leafnodes.tls: " + refused},
		{"gateway authorization", "gateway { authorization { token: x } }", "gateway.authorization: " + refused},
		{"cluster permissions", "cluster { permissions { import: x } }", "cluster.permissions: " + refused},
		{"connection types", "authorization { users: [ { user: a, password: b, allowed_connection_types: [STANDARD] } ] }", "allowed_connection_types: " + refused},
		{"permission import", "authorization { users: [ { user: a, password: b, permissions: { import: x } } ] }", "permissions.import: " + refused},
		{"encryption", "jetstream {\n  key: secret\n}", "cairn.conf:2: jetstream.key: encryption at rest is not supported"},
		{"ocsp", "ocsp: true", "ocsp: " + refused},
		{"user and token", "authorization { user: a, password: b, token: c }", "authorization: cannot have a user/password and a token"},
		{"user and users", "authorization { user: a, password: b, users: [] }", "cannot have a single user/password and a users array"},
		{"token and users", "authorization { token: t, users: [] }", "cannot have a token and a users array"},
		{"password alone", "authorization { password: b }", "password without user"},
		{"user without name", "authorization { users: [ { password: b } ] }", "a user needs user or nkey"},
		{"bad nkey", "authorization { users: [ { nkey: ABC } ] }", "expected a public user nkey"},
		{"duplicate user", "authorization { users: [ { user: a, password: b } ] }\naccounts { A { users: [ { user: a, password: c } ] } }", `users: user "a" defined twice`},
		{"no_auth_user unknown", "no_auth_user: ghost", `no_auth_user: "ghost" is not a configured user`},
		{"system_account unknown", "system_account: GHOST", `system_account: account "GHOST" is not defined`},
		{"timeout", "authorization {\n  timeout: soon\n}", "cairn.conf:2: authorization.timeout: expected seconds or a duration"},
		{"bad subject", "authorization { users: [ { user: a, password: b, permissions: { publish: \"a..b\" } } ] }", `invalid subject "a..b"`},
		{"users not array", "authorization { users: { user: a } }", "expected an array of users"},
		{"account jetstream", "accounts { A { jetstream: { max_mem: lots } } }", "accounts.A.jetstream.max_mem: expected a size"},
		// nats-server refuses it; Cairn served it as the global account
		// with two JetStream APIs (one answering 10039) on one namespace.
		{"reserved account", "accounts {\n  \"$G\": { users: [ { user: g, password: g } ], jetstream: enabled }\n}", `cairn.conf:2: accounts.$G: "$G" is a Reserved Account`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.text, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("config %+v error %v, want %q", c, err, tt.want)
			}
		})
	}
}
