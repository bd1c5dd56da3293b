package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// bcryptHash hashes pw at the lowest cost and gives it the minor version
// prefix ("2a", "2b", "2y").
func bcryptHash(t testing.TB, pw, version string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "$" + version + string(h[3:])
}

func newUserKey(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return kp, pub
}

func sign(t *testing.T, kp nkeys.KeyPair, nonce string, enc *base64.Encoding) string {
	t.Helper()
	sig, err := kp.Sign([]byte(nonce))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeToString(sig)
}

func TestAuthenticate(t *testing.T) {
	const nonce = "umFvdmXW_UA5No4"
	kp, pub := newUserKey(t)
	other, otherPub := newUserKey(t)
	usersCfg := Config{Users: []User{
		{Name: "plain", Password: "pw"},
		{Name: "b2a", Password: bcryptHash(t, "secret-a", "2a")},
		{Name: "b2b", Password: bcryptHash(t, "secret-b", "2b")},
		{Name: "b2y", Password: bcryptHash(t, "secret-y", "2y")},
		{Nkey: pub},
	}}
	withNoAuth := usersCfg
	withNoAuth.NoAuthUser = "plain"
	tests := []struct {
		name    string
		cfg     Config
		creds   Credentials
		nonce   string
		want    Identity
		wantErr string // substring of the error; "" means success
	}{
		{"no auth", Config{}, Credentials{User: "x", Password: "y"}, "", Identity{}, ""},
		{"token good", Config{Token: "s3cr3t"}, Credentials{Token: "s3cr3t"}, "", Identity{Method: MethodToken}, ""},
		{"token bad", Config{Token: "s3cr3t"}, Credentials{Token: "s3cr3"}, "", Identity{}, `Token "[REDACTED]"`},
		{"token missing", Config{Token: "s3cr3t"}, Credentials{}, "", Identity{}, "authentication error"},
		{"token as password", Config{Token: "s3cr3t"}, Credentials{User: "u", Password: "s3cr3t"}, "", Identity{}, `User "u"`},
		{"token bcrypt", Config{Token: bcryptHash(t, "tok", "2a")}, Credentials{Token: "tok"}, "", Identity{Method: MethodToken}, ""},
		{"token bcrypt hash sent", Config{Token: bcryptHash(t, "tok", "2a")}, Credentials{Token: bcryptHash(t, "tok", "2a")}, "", Identity{}, "authentication error"},
		{"single good", Config{User: "u", Password: "p"}, Credentials{User: "u", Password: "p"}, "", Identity{Name: "u", Method: MethodPassword}, ""},
		{"single bad pass", Config{User: "u", Password: "p"}, Credentials{User: "u", Password: "x"}, "", Identity{}, `User "u"`},
		{"single bad user", Config{User: "u", Password: "p"}, Credentials{User: "v", Password: "p"}, "", Identity{}, `User "v"`},
		{"single empty", Config{User: "u", Password: "p"}, Credentials{}, "", Identity{}, "authentication error"},
		{"single bcrypt", Config{User: "u", Password: bcryptHash(t, "p", "2b")}, Credentials{User: "u", Password: "p"}, "", Identity{Name: "u", Method: MethodPassword}, ""},
		{"users plain", usersCfg, Credentials{User: "plain", Password: "pw"}, nonce, Identity{Name: "plain", Method: MethodPassword}, ""},
		{"users plain bad", usersCfg, Credentials{User: "plain", Password: "pW"}, nonce, Identity{}, `User "plain"`},
		{"users unknown", usersCfg, Credentials{User: "nobody", Password: "pw"}, nonce, Identity{}, `User "nobody"`},
		{"users 2a", usersCfg, Credentials{User: "b2a", Password: "secret-a"}, nonce, Identity{Name: "b2a", Method: MethodPassword}, ""},
		{"users 2b", usersCfg, Credentials{User: "b2b", Password: "secret-b"}, nonce, Identity{Name: "b2b", Method: MethodPassword}, ""},
		{"users 2y", usersCfg, Credentials{User: "b2y", Password: "secret-y"}, nonce, Identity{Name: "b2y", Method: MethodPassword}, ""},
		{"users 2y bad", usersCfg, Credentials{User: "b2y", Password: "secret-a"}, nonce, Identity{}, `User "b2y"`},
		{"users no creds", usersCfg, Credentials{}, nonce, Identity{}, "authentication error"},
		{"nkey good rawurl", usersCfg, Credentials{Nkey: pub, Sig: sign(t, kp, nonce, base64.RawURLEncoding)}, nonce, Identity{Name: pub, Method: MethodNkey}, ""},
		{"nkey good std", usersCfg, Credentials{Nkey: pub, Sig: sign(t, kp, nonce, base64.StdEncoding)}, nonce, Identity{Name: pub, Method: MethodNkey}, ""},
		{"nkey no sig", usersCfg, Credentials{Nkey: pub}, nonce, Identity{}, `Nkey "` + pub + `"`},
		{"nkey garbage sig", usersCfg, Credentials{Nkey: pub, Sig: "!!!"}, nonce, Identity{}, "Nkey"},
		{"nkey wrong key", usersCfg, Credentials{Nkey: pub, Sig: sign(t, other, nonce, base64.RawURLEncoding)}, nonce, Identity{}, "Nkey"},
		{"nkey unknown", usersCfg, Credentials{Nkey: otherPub, Sig: sign(t, other, nonce, base64.RawURLEncoding)}, nonce, Identity{}, "Nkey"},
		{"nkey wrong nonce", usersCfg, Credentials{Nkey: pub, Sig: sign(t, kp, "AAAAAAAAAAAAAAA", base64.RawURLEncoding)}, nonce, Identity{}, "Nkey"},
		{"nkey no nonce", usersCfg, Credentials{Nkey: pub, Sig: sign(t, kp, "", base64.RawURLEncoding)}, "", Identity{}, "Nkey"},
		{"no_auth_user", withNoAuth, Credentials{}, nonce, Identity{Name: "plain", Method: MethodNoAuthUser}, ""},
		{"no_auth_user with creds", withNoAuth, Credentials{User: "b2a", Password: "secret-a"}, nonce, Identity{Name: "b2a", Method: MethodPassword}, ""},
		{"no_auth_user bad creds", withNoAuth, Credentials{User: "plain", Password: "x"}, nonce, Identity{}, `User "plain"`},
		{"no_auth_user pass only", withNoAuth, Credentials{Password: "pw"}, nonce, Identity{}, "authentication error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var n []byte
			if tt.nonce != "" {
				n = []byte(tt.nonce)
			}
			id, err := a.Authenticate(tt.creds, n)
			if tt.wantErr == "" {
				if err != nil || id != tt.want {
					t.Fatalf("got %+v, %v; want %+v", id, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %+v, %v; want an error containing %q", id, err, tt.wantErr)
			}
			for _, leak := range []string{tt.creds.Password, tt.creds.Token, tt.creds.Sig} {
				if leak != "" && strings.Contains(err.Error(), leak) {
					t.Fatalf("error %q leaks a secret", err)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	_, pub := newUserKey(t)
	tests := []struct {
		name              string
		cfg               Config
		ok, req, nonceReq bool
	}{
		{"off", Config{}, true, false, false},
		{"token", Config{Token: "t"}, true, true, false},
		{"user", Config{User: "u", Password: "p"}, true, true, false},
		{"user without password", Config{User: "u"}, true, true, false},
		{"password without user", Config{Password: "p"}, false, false, false},
		{"nkey", Config{Users: []User{{Nkey: pub}}}, true, true, true},
		{"token and user", Config{Token: "t", User: "u", Password: "p"}, false, false, false},
		{"token and users", Config{Token: "t", Users: []User{{Name: "u"}}}, false, false, false},
		{"bad nkey", Config{Users: []User{{Nkey: "UABC"}}}, false, false, false},
		{"seed as nkey", Config{Users: []User{{Nkey: "SUALV3QGU5D3V5G7QKDI3RZ43GTAG54SVCSDWA4OALVYJN7GCBOBF2TDL4"}}}, false, false, false},
		{"nkey with password", Config{Users: []User{{Nkey: pub, Password: "p"}}}, false, false, false},
		{"nameless", Config{Users: []User{{Password: "p"}}}, false, false, false},
		{"duplicate", Config{Users: []User{{Name: "u"}, {Name: "u"}}}, false, false, false},
		// Permissions are kept by name or nkey: a user named as an nkey
		// user's key would give one of them the other's permissions.
		{"user named as an nkey", Config{Users: []User{{Nkey: pub}, {Name: pub, Password: "p"}}}, false, false, false},
		{"nkey named as a user", Config{Users: []User{{Name: pub, Password: "p"}, {Nkey: pub}}}, false, false, false},
		{"no_auth_user missing", Config{Users: []User{{Name: "u"}}, NoAuthUser: "v"}, false, false, false},
		{"no_auth_user without users", Config{NoAuthUser: "v"}, false, false, false},
		{"no_auth_user nkey", Config{Users: []User{{Nkey: pub}}, NoAuthUser: pub}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if !tt.ok {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("New: %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Required() != tt.req || a.NonceRequired() != tt.nonceReq || a.Timeout() != DefaultTimeout {
				t.Fatalf("required %v nonce %v timeout %v", a.Required(), a.NonceRequired(), a.Timeout())
			}
		})
	}
}

func TestPlaintextPasswords(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want bool
	}{
		{Config{}, false},
		{Config{Token: "t"}, false},
		{Config{User: "u", Password: "p"}, true},
		{Config{User: "u", Password: bcryptHash(t, "p", "2a")}, false},
		{Config{Users: []User{{Name: "a", Password: bcryptHash(t, "p", "2b")}, {Name: "b", Password: "p"}}}, true},
		{Config{Users: []User{{Name: "a", Password: bcryptHash(t, "p", "2y")}}}, false},
	} {
		a, err := New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if a.PlaintextPasswords() != tt.want {
			t.Errorf("%+v: PlaintextPasswords() = %v", tt.cfg, !tt.want)
		}
	}
}

func TestIsBcrypt(t *testing.T) {
	for s, want := range map[string]bool{
		"$2a$11$abc": true, "$2b$04$": true, "$2x$10$x": true, "$2y$31$x": true,
		"$2c$11$abc": false, "$2a$1$abc": false, "$2a$ab$x": false, "2a$11$x": false,
		"$2a$11": false, "": false, "password": false, "$$2a$11$": false,
	} {
		if IsBcrypt(s) != want {
			t.Errorf("IsBcrypt(%q) = %v", s, !want)
		}
	}
}
