package auth

// User reports whether the configuration has a user called name: a
// user name of the users list or the single user, or the public key of
// an nkey user; account is the account it belongs to ("" is the global
// account). A configuration reload closes the connections of a user it
// no longer finds, or finds in another account, as nats-server does
// (internal/server reload.go).
func (a *Authenticator) User(name string) (account string, ok bool) {
	if name == "" {
		return "", false
	}
	_, isUser := a.passwords[name]
	_, isNkey := a.nkeys[name]
	if isUser || isNkey {
		return a.accounts[name], true
	}
	return "", name == a.user
}
