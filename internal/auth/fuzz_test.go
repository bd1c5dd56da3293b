package auth

import (
	"encoding/base64"
	"testing"

	"github.com/nats-io/nkeys"
)

// FuzzAuthenticate feeds arbitrary CONNECT credentials to a users list
// with a plain password, a bcrypt password and an nkey: it must not
// panic, and must let in exactly the right password for the user named,
// or a valid signature of the nonce by the registered nkey.
func FuzzAuthenticate(f *testing.F) {
	const nonce = "umFvdmXW_UA5No4"
	// A fixed seed, so that the corpus can hold valid signatures.
	kp, err := nkeys.FromSeed([]byte("SUALV3QGU5D3V5G7QKDI3RZ43GTAG54SVCSDWA4OALVYJN7GCBOBF2TDL4"))
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	good, _ := kp.Sign([]byte(nonce))
	a, err := New(Config{Users: []User{
		{Name: "alice", Password: "pw"},
		{Name: "bob", Password: bcryptHash(f, "pw2", "2b")},
		{Nkey: pub},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("alice", "pw", "", "", "")
	f.Add("bob", "pw2", "", "", "")
	f.Add("bob", "$2b$04$", "", "", "")
	f.Add("", "", "pw", "", "")
	f.Add("", "", "", pub, base64.RawURLEncoding.EncodeToString(good))
	f.Add("", "", "", pub, base64.StdEncoding.EncodeToString(good))
	f.Add("alice", "pw", "", pub, "AAAA")
	f.Add("", "", "", "U", "")
	f.Fuzz(func(t *testing.T, user, pass, token, nkey, sig string) {
		id, err := a.Authenticate(Credentials{User: user, Password: pass, Token: token, Nkey: nkey, Sig: sig}, []byte(nonce))
		if err != nil {
			return
		}
		switch id.Method {
		case MethodPassword:
			if nkey != "" || !(user == "alice" && pass == "pw" || user == "bob" && pass == "pw2") || id.Name != user {
				t.Fatalf("let in %+v with user %q pass %q nkey %q", id, user, pass, nkey)
			}
		case MethodNkey:
			raw, derr := base64.RawURLEncoding.DecodeString(sig)
			if derr != nil {
				raw, derr = base64.StdEncoding.DecodeString(sig)
			}
			if nkey != pub || id.Name != pub || derr != nil || kp.Verify([]byte(nonce), raw) != nil {
				t.Fatalf("let in %+v with nkey %q sig %q", id, nkey, sig)
			}
		default:
			t.Fatalf("let in %+v", id)
		}
	})
}
