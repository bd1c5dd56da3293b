package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Mapping a client certificate to a user (tls { verify_and_map }), as
// nats-server v2.15.2 does: with the map on, a client that does not
// authenticate with an nkey is the user of the users list whose name is
// one of its certificate's identities, tried in this order:
//
//  1. an email address of the certificate's subject alternative names;
//  2. a DNS name of them;
//  3. a URI of them;
//  4. the subject's distinguished name, compared as a DN (RFC 4514: a
//     user named "cn=alice, o=Acme, c=US" is the certificate whose
//     subject is C=US, O=Acme, CN=alice; attribute types compare without
//     case, values exactly), first in order, then in any order of its
//     RDNs;
//  5. the subject as Go writes it (pkix RDNSequence.String), with its
//     domain components appended, then without them.
//
// The certificate, verified against ca_file by the handshake, is the
// credential, but the password sent in CONNECT, if any, must still be
// the mapped user's (so a certificate-only user, without a password, is
// refused when one is sent). A user name sent in CONNECT is ignored
// (nats-server warns about it). A certificate that maps to no user is
// refused.

// MethodCert is an identity proved by a client certificate mapped to a
// user (verify_and_map).
const MethodCert Method = 100

// ErrNoCertificate is returned by AuthenticateCert without a client
// certificate.
var ErrNoCertificate = errors.New("auth: no client certificate")

// TLSMap reports whether users are mapped from client certificates:
// with verify_and_map and a users list, as nats-server (a single user or
// a token is checked as without it).
func (a *Authenticator) TLSMap() bool { return a.tlsMap && len(a.passwords) > 0 }

// AuthenticateCert authenticates a client that presented cert under
// verify_and_map: an nkey in c is checked as usual; otherwise the user
// is the one cert maps to. The error wraps ErrAuthentication.
func (a *Authenticator) AuthenticateCert(cert *x509.Certificate, c Credentials, nonce []byte) (Identity, error) {
	if c.Nkey != "" && a.nkeys != nil {
		return a.checkNkey(c, nonce)
	}
	if cert == nil {
		return Identity{}, fmt.Errorf("%w - %w", ErrAuthentication, ErrNoCertificate)
	}
	name, ok := a.mapCert(cert)
	if !ok {
		return Identity{}, fmt.Errorf("%w - no user for the certificate of %q", ErrAuthentication, cert.Subject.String())
	}
	if !a.passwords[name].matches(c.Password) {
		// As nats-server: the password sent, if any, is still compared
		// with the mapped user's (none for a certificate-only user).
		return Identity{}, fmt.Errorf("%w - User %q mapped from the certificate, wrong password", ErrAuthentication, name)
	}
	return Identity{Name: name, Method: MethodCert, Permissions: a.perms[name], Account: a.accounts[name]}, nil
}

// mapCert returns the user cert maps to.
func (a *Authenticator) mapCert(cert *x509.Certificate) (string, bool) {
	user := func(name string) bool {
		_, ok := a.passwords[name]
		return ok && name != ""
	}
	for _, e := range cert.EmailAddresses {
		if user(e) {
			return e, true
		}
	}
	for _, d := range cert.DNSNames {
		if user(d) {
			return d, true
		}
	}
	for _, u := range cert.URIs {
		if s := u.String(); user(s) {
			return s, true
		}
	}
	if dn, err := certDN(cert.RawSubject); err == nil {
		if name, ok := a.userByDN(dn); ok {
			return name, true
		}
	}
	rdn := cert.Subject.ToRDNSequence().String()
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &seq); err == nil {
		if dcs := domainComponents(seq); dcs != "" && user(rdn+","+dcs) {
			return rdn + "," + dcs, true
		}
	}
	if user(rdn) {
		return rdn, true
	}
	return "", false
}

// userByDN finds the user whose name, read as a DN, is dn: in the same
// order first, then with its RDNs in any order.
func (a *Authenticator) userByDN(dn *ldap.DN) (string, bool) {
	parsed := make(map[string]*ldap.DN)
	for name := range a.passwords {
		if !strings.Contains(name, "=") {
			continue
		}
		udn, err := ldap.ParseDN(name)
		if err != nil || len(udn.RDNs) == 0 {
			continue
		}
		if udn.Equal(dn) {
			return name, true
		}
		parsed[name] = udn
	}
	for name, udn := range parsed {
		if sameRDNs(udn, dn) {
			return name, true
		}
	}
	return "", false
}

// CheckCertMapUsers refuses, for verify_and_map, two user names that
// are the same RDNs (equal DNs, or the same RDNs in another order): one
// certificate would map to both, and which one it got would depend on
// map iteration (nats-server 2.15.2 accepts such a list and picks
// either). New checks it; the config checks it too, so that -t finds
// it. The error wraps ErrConfig.
func CheckCertMapUsers(names []string) error {
	byKey := make(map[string]string)
	for _, name := range names {
		if !strings.Contains(name, "=") {
			continue
		}
		dn, err := ldap.ParseDN(name)
		if err != nil || len(dn.RDNs) == 0 {
			continue
		}
		k := rdnSetKey(dn)
		if other, dup := byKey[k]; dup {
			a, b := min(name, other), max(name, other)
			return fmt.Errorf("%w: users %q and %q name the same certificate subject (verify_and_map could map one certificate to either)", ErrConfig, a, b)
		}
		byKey[k] = name
	}
	return nil
}

// rdnSetKey returns a key equal for DNs with the same RDNs in any order
// (sameRDNs): attribute types without case, values exactly.
func rdnSetKey(dn *ldap.DN) string {
	rdns := make([]string, 0, len(dn.RDNs))
	for _, r := range dn.RDNs {
		atvs := make([]string, 0, len(r.Attributes))
		for _, atv := range r.Attributes {
			atvs = append(atvs, strconv.Quote(strings.ToUpper(atv.Type))+"="+strconv.Quote(atv.Value))
		}
		slices.Sort(atvs)
		rdns = append(rdns, strings.Join(atvs, "+"))
	}
	slices.Sort(rdns)
	return strings.Join(rdns, ",")
}

// sameRDNs reports whether x and y have the same RDNs in any order.
func sameRDNs(x, y *ldap.DN) bool {
	if len(x.RDNs) != len(y.RDNs) {
		return false
	}
	used := make([]bool, len(y.RDNs))
	for _, r := range x.RDNs {
		found := false
		for i, s := range y.RDNs {
			if !used[i] && r.Equal(s) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// attributeNames are the attribute types a certificate subject's DN
// may use, by OID.
var attributeNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"0.9.2342.19200300.100.1.25": "DC",
}

// certDN reads a certificate's raw subject as a DN in RFC 4514 order
// (the reverse of the certificate's), keeping multi-valued RDNs.
func certDN(raw []byte) (*ldap.DN, error) {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		return nil, err
	}
	dn := &ldap.DN{}
	for i := len(seq) - 1; i >= 0; i-- {
		if len(seq[i]) == 0 {
			continue
		}
		rdn := &ldap.RelativeDN{}
		for _, atv := range seq[i] {
			typ, ok := attributeNames[atv.Type.String()]
			if !ok {
				return nil, fmt.Errorf("auth: attribute type %s has no name", atv.Type)
			}
			v, ok := atv.Value.(string)
			if !ok {
				return nil, fmt.Errorf("auth: attribute %s is not a string", typ)
			}
			rdn.Attributes = append(rdn.Attributes, &ldap.AttributeTypeAndValue{Type: typ, Value: v})
		}
		dn.RDNs = append(dn.RDNs, rdn)
	}
	return dn, nil
}

// domainComponents returns the DC attributes of a subject as
// "DC=a,DC=b", in the certificate's order.
func domainComponents(seq pkix.RDNSequence) string {
	var dcs []string
	for _, rdn := range seq {
		for _, atv := range rdn {
			if v, ok := atv.Value.(string); ok && atv.Type.String() == "0.9.2342.19200300.100.1.25" {
				dcs = append(dcs, "DC="+v)
			}
		}
	}
	return strings.Join(dcs, ",")
}
