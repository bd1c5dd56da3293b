package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"

	"github.com/cairn-db/cairn/internal/testcert"
)

// TestCertMapOrder: the identities of a certificate are tried in
// nats-server's order (emails, DNS names, URIs, then the subject), and
// the first that names a user wins.
func TestCertMapOrder(t *testing.T) {
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	uri, _ := url.Parse("spiffe://x/y")
	cert := func(edit func(c *x509.Certificate)) *x509.Certificate {
		return testcert.WriteLeaf(t, t.TempDir(), "c", ca, caKey, func(c *x509.Certificate) {
			c.DNSNames = []string{"host.example"}
			c.EmailAddresses = []string{"e@example"}
			c.URIs = []*url.URL{uri}
			c.Subject = pkix.Name{CommonName: "cn", Organization: []string{"O1"}}
			if edit != nil {
				edit(c)
			}
		})
	}
	mk := func(users ...string) *Authenticator {
		var us []User
		for _, u := range users {
			us = append(us, User{Name: u})
		}
		a, err := New(Config{Users: us, TLSMap: true})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, c := range []struct {
		users []string
		want  string
	}{
		{[]string{"CN=cn,O=O1", "spiffe://x/y", "host.example", "e@example"}, "e@example"},
		{[]string{"CN=cn,O=O1", "spiffe://x/y", "host.example"}, "host.example"},
		{[]string{"CN=cn,O=O1", "spiffe://x/y"}, "spiffe://x/y"},
		{[]string{"CN=cn,O=O1"}, "CN=cn,O=O1"},
		{[]string{"o=O1 , CN=cn"}, "o=O1 , CN=cn"},
		{[]string{"CN=cn"}, ""},
		{[]string{"CN=CN,O=O1"}, ""}, // values compare exactly
		{[]string{"not a dn"}, ""},
	} {
		a := mk(c.users...)
		id, err := a.AuthenticateCert(cert(nil), Credentials{}, nil)
		if c.want == "" {
			if !errors.Is(err, ErrAuthentication) {
				t.Errorf("users %q: %v, %v; want refused", c.users, id, err)
			}
			continue
		}
		if err != nil || id.Name != c.want || id.Method != MethodCert {
			t.Errorf("users %q: %+v, %v; want %q", c.users, id, err, c.want)
		}
	}
	if _, err := mk("e@example").AuthenticateCert(nil, Credentials{}, nil); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no certificate: %v", err)
	}
	// A subject attribute with no name (here a title) leaves the DN
	// match out; the string form still works.
	titled := cert(func(c *x509.Certificate) {
		c.EmailAddresses, c.DNSNames, c.URIs = nil, nil, nil
		c.Subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 12}, Value: "boss"}}
	})
	a := mk(titled.Subject.ToRDNSequence().String())
	if id, err := a.AuthenticateCert(titled, Credentials{}, nil); err != nil || id.Name != titled.Subject.ToRDNSequence().String() {
		t.Errorf("subject string %q: %+v, %v", titled.Subject.ToRDNSequence().String(), id, err)
	}
	// Without a users list there is nothing to map to: the map is off.
	if off, _ := New(Config{TLSMap: true}); off.TLSMap() {
		t.Error("TLSMap on without users")
	}
}

// TestCertMapAmbiguousUsers: two users whose names are the same RDNs
// (equal DNs, or the same RDNs in another order) would both map from
// one certificate, and which one it got depended on map iteration: a
// connection could land in either user's account with either's
// permissions. New refuses such a list under verify_and_map.
func TestCertMapAmbiguousUsers(t *testing.T) {
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	cert := testcert.WriteLeaf(t, t.TempDir(), "c", ca, caKey, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "alice", Organization: []string{"Acme"}, OrganizationalUnit: []string{"ops"}}
	})
	for _, pair := range [][2]string{
		{"CN=alice,OU=ops,O=Acme", "cn=alice, ou=ops, o=Acme"}, // the same DN
		{"OU=ops,CN=alice,O=Acme", "O=Acme,OU=ops,CN=alice"},   // neither in the certificate's order
		{"CN=alice+OU=ops,O=Acme", "OU=ops+CN=alice,O=Acme"},   // a multi-valued RDN in another order
	} {
		cfg := Config{TLSMap: true, Users: []User{{Name: pair[0], Account: "A"}, {Name: pair[1], Account: "B"}}}
		a, err := New(cfg)
		if err == nil {
			seen := map[string]bool{}
			for range 200 {
				if id, err := a.AuthenticateCert(cert, Credentials{}, nil); err == nil {
					seen[id.Account] = true
				}
			}
			t.Errorf("users %q and %q: accepted; the certificate mapped to accounts %v", pair[0], pair[1], seen)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("users %q: %v, want ErrConfig", pair, err)
		}
		// Without verify_and_map the names are only names.
		cfg.TLSMap = false
		if _, err := New(cfg); err != nil {
			t.Errorf("users %q without verify_and_map: %v", pair, err)
		}
	}
	// Different RDNs are different users.
	if _, err := New(Config{TLSMap: true, Users: []User{{Name: "CN=alice,O=Acme"}, {Name: "CN=alice,O=Acme,OU=ops"}, {Name: "CN=Alice,O=Acme"}}}); err != nil {
		t.Errorf("distinct DNs: %v", err)
	}
}

// TestCertMapDNInjection: a certificate whose subject values hold DN
// syntax (commas, plus signs, equals, escapes) is one RDN with that
// value: it does not map to the user whose name those characters would
// spell as several RDNs.
func TestCertMapDNInjection(t *testing.T) {
	ca, caKey := testcert.New(t, "ca", nil, nil, true)
	users := []string{"CN=alice,O=Acme", "CN=alice+O=Acme", "CN=alice,OU=ops,O=Acme", "CN=admin"}
	var us []User
	for _, u := range users {
		us = append(us, User{Name: u})
	}
	a, err := New(Config{Users: us, TLSMap: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, cn := range []string{"alice,O=Acme", "alice+O=Acme", `alice\,O=Acme`, "alice,OU=ops,O=Acme", "admin,", " admin", "ADMIN", "admin\x00", "alice\nO=Acme"} {
		cert := testcert.WriteLeaf(t, t.TempDir(), "c", ca, caKey, func(c *x509.Certificate) {
			c.DNSNames = nil
			c.Subject = pkix.Name{CommonName: cn}
		})
		if id, err := a.AuthenticateCert(cert, Credentials{}, nil); err == nil {
			t.Errorf("CN %q mapped to %q", cn, id.Name)
		}
	}
}
