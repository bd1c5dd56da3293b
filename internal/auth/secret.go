package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"

	"golang.org/x/crypto/bcrypt"
)

// secret is a stored password or token: a bcrypt hash, or the SHA-256
// digest of a plain value, compared in constant time so that neither the
// value nor its length leaks through timing.
type secret struct {
	set    bool
	bcrypt []byte   // the hash when the value looks like bcrypt
	digest [32]byte // SHA-256 of a plain value
}

func newSecret(v string) secret {
	if IsBcrypt(v) {
		return secret{set: true, bcrypt: []byte(v)}
	}
	return secret{set: true, digest: sha256.Sum256([]byte(v))}
}

// matches reports whether the client's value matches the stored one.
func (s secret) matches(v string) bool {
	if !s.set {
		return false
	}
	if s.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(s.bcrypt, []byte(v)) == nil
	}
	d := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(s.digest[:], d[:]) == 1
}

// decodeSig decodes an nkey signature: base64 RawURL, as clients send
// it, or standard base64 (padded), as nats-server also accepts.
func decodeSig(sig string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(sig)
	}
	return b, err
}
