package auth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// DefaultTimeout is how long a client has to authenticate when Config
// leaves Timeout at zero (nats-server's AUTH_TIMEOUT).
const DefaultTimeout = 2 * time.Second

// ErrAuthentication is returned, wrapped with what the client claimed to
// be (never a password or token), for any failed authentication.
var ErrAuthentication = errors.New("auth: authentication error")

// ErrConfig is wrapped by New for an invalid configuration.
var ErrConfig = errors.New("auth: invalid configuration")

// Config is the server's authentication configuration. The zero value
// means no authentication: every connection is let in anonymously. At
// most one of Token, User and Users may be set.
type Config struct {
	// Token is the shared auth_token (authorization { token }, --auth).
	Token string
	// User and Password are the single user (authorization { user,
	// password }, --user/--pass).
	User, Password string
	// Users is the users list (authorization { users: [...] }).
	Users []User
	// NoAuthUser names the Users entry a client that sends no
	// credentials is taken to be (no_auth_user). It must exist.
	NoAuthUser string
	// Timeout is how long a client has to send CONNECT
	// (authorization { timeout }); zero means DefaultTimeout.
	Timeout time.Duration
	// TLSMap maps a client's verified certificate to a user of Users
	// (tls { verify_and_map }, certmap.go); those users need no
	// password.
	TLSMap bool
}

// User is one entry of the users list: either Name and Password, or
// Nkey (a user public key, 'U…') alone.
type User struct {
	Name     string
	Password string
	Nkey     string
	// Permissions limit the user; nil allows everything. The caller
	// gives users without their own the default permissions.
	Permissions *Permissions
	// Account is the account the user belongs to; empty is the global
	// account.
	Account string
}

// Credentials are what a client sent in CONNECT: user, pass, auth_token,
// nkey and sig.
type Credentials struct {
	User, Password, Token, Nkey, Sig string
}

// Method is how an Identity was proved.
type Method uint8

// Methods.
const (
	MethodNone       Method = iota // authentication is off
	MethodToken                    // the shared token
	MethodPassword                 // a user name and password
	MethodNkey                     // a signature over the nonce
	MethodNoAuthUser               // no credentials; no_auth_user
)

func (m Method) String() string {
	switch m {
	case MethodToken:
		return "token"
	case MethodPassword:
		return "password"
	case MethodNkey:
		return "nkey"
	case MethodNoAuthUser:
		return "no_auth_user"
	case MethodCert:
		return "certificate"
	}
	return "none"
}

// Identity is who a connection is.
type Identity struct {
	// Name is the user name, the nkey of an nkey user, or empty for
	// the token and for no authentication.
	Name   string
	Method Method
	// Account is the account the connection belongs to; empty is the
	// global account.
	Account string
	// Permissions limit what the connection may publish and subscribe
	// to (the users list entry's permissions); nil allows everything.
	Permissions *Permissions
}

// Authenticator checks credentials against one Config. It is immutable
// and safe for concurrent use.
type Authenticator struct {
	token     secret
	user      string
	password  secret
	passwords map[string]secret // users list: name → password
	nkeys     map[string]nkeys.KeyPair
	perms     map[string]*Permissions // users list: name or nkey → permissions
	accounts  map[string]string       // users list: name or nkey → account, "" omitted
	noAuth    *Identity
	required  bool
	plaintext bool // a password is stored in clear
	tlsMap    bool // users are mapped from client certificates
	timeout   time.Duration
}

// New validates cfg and returns its Authenticator. The error wraps
// ErrConfig.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{timeout: cfg.Timeout, tlsMap: cfg.TLSMap}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	set := 0
	for _, on := range []bool{cfg.Token != "", cfg.User != "" || cfg.Password != "", len(cfg.Users) > 0} {
		if on {
			set++
		}
	}
	if set > 1 {
		return nil, fmt.Errorf("%w: token, user/password and users cannot be combined", ErrConfig)
	}
	switch {
	case cfg.Token != "":
		a.token = newSecret(cfg.Token)
	case cfg.User != "" || cfg.Password != "":
		if cfg.User == "" {
			return nil, fmt.Errorf("%w: a password without a user", ErrConfig)
		}
		a.user, a.password = cfg.User, newSecret(cfg.Password)
		a.plaintext = !IsBcrypt(cfg.Password)
	}
	if err := a.addUsers(cfg.Users); err != nil {
		return nil, err
	}
	if cfg.TLSMap {
		if err := CheckCertMapUsers(slices.Collect(maps.Keys(a.passwords))); err != nil {
			return nil, err
		}
	}
	a.required = set > 0
	if cfg.NoAuthUser != "" {
		_, isUser := a.passwords[cfg.NoAuthUser]
		_, isNkey := a.nkeys[cfg.NoAuthUser]
		if !isUser && !isNkey {
			// nats-server's text.
			return nil, fmt.Errorf("%w: no_auth_user: %q not present as user or nkey in authorization block or account configuration", ErrConfig, cfg.NoAuthUser)
		}
		a.noAuth = &Identity{Name: cfg.NoAuthUser, Method: MethodNoAuthUser, Permissions: a.perms[cfg.NoAuthUser], Account: a.accounts[cfg.NoAuthUser]}
	}
	return a, nil
}

func (a *Authenticator) addUsers(users []User) error {
	for i, u := range users {
		switch {
		case u.Nkey != "" && (u.Name != "" || u.Password != ""):
			return fmt.Errorf("%w: users[%d]: an nkey user has no user name or password", ErrConfig, i)
		case u.Nkey != "":
			if !nkeys.IsValidPublicUserKey(u.Nkey) {
				return fmt.Errorf("%w: users[%d]: not a valid public user nkey: %q", ErrConfig, i, u.Nkey)
			}
			kp, err := nkeys.FromPublicKey(u.Nkey)
			if err != nil {
				return fmt.Errorf("%w: users[%d]: %v", ErrConfig, i, err)
			}
			if _, dup := a.passwords[u.Nkey]; dup {
				// Permissions are kept by name or nkey: one would get
				// the other's.
				return fmt.Errorf("%w: nkey %q is also a user name", ErrConfig, u.Nkey)
			}
			if _, dup := a.nkeys[u.Nkey]; dup {
				return fmt.Errorf("%w: duplicate nkey %q", ErrConfig, u.Nkey)
			}
			if a.nkeys == nil {
				a.nkeys = make(map[string]nkeys.KeyPair)
			}
			a.nkeys[u.Nkey] = kp
			a.setPerms(u.Nkey, u.Permissions)
			a.setAccount(u.Nkey, u.Account)
		case u.Name == "":
			return fmt.Errorf("%w: users[%d]: a user needs a user name or an nkey", ErrConfig, i)
		default:
			if _, dup := a.nkeys[u.Name]; dup {
				return fmt.Errorf("%w: user name %q is also an nkey", ErrConfig, u.Name)
			}
			if _, dup := a.passwords[u.Name]; dup {
				return fmt.Errorf("%w: duplicate user %q", ErrConfig, u.Name)
			}
			if a.passwords == nil {
				a.passwords = make(map[string]secret)
			}
			a.passwords[u.Name] = newSecret(u.Password)
			a.setPerms(u.Name, u.Permissions)
			a.setAccount(u.Name, u.Account)
			a.plaintext = a.plaintext || !IsBcrypt(u.Password)
		}
	}
	return nil
}

func (a *Authenticator) setPerms(name string, p *Permissions) {
	if p == nil {
		return
	}
	if a.perms == nil {
		a.perms = make(map[string]*Permissions)
	}
	a.perms[name] = p
}

func (a *Authenticator) setAccount(name, account string) {
	if account == "" {
		return
	}
	if a.accounts == nil {
		a.accounts = make(map[string]string)
	}
	a.accounts[name] = account
}

// Required reports whether clients must authenticate (INFO's
// auth_required).
func (a *Authenticator) Required() bool { return a.required }

// PlaintextPasswords reports whether a user's password is stored in
// clear rather than as a bcrypt hash (the server warns, as nats-server
// does; a plain token is not warned about).
func (a *Authenticator) PlaintextPasswords() bool { return a.plaintext }

// Advertised reports whether INFO says auth_required: when clients must
// authenticate and there is no no_auth_user to fall back to (as
// nats-server does).
func (a *Authenticator) Advertised() bool { return a.required && a.noAuth == nil }

// NonceRequired reports whether INFO must carry a nonce: when nkey users
// exist.
func (a *Authenticator) NonceRequired() bool { return len(a.nkeys) > 0 }

// Timeout is how long a client has to authenticate.
func (a *Authenticator) Timeout() time.Duration { return a.timeout }

// NoAuthIdentity returns the no_auth_user identity, if one is set: what
// a client that sends an operation other than CONNECT first is taken to
// be.
func (a *Authenticator) NoAuthIdentity() (Identity, bool) {
	if a.noAuth == nil {
		return Identity{}, false
	}
	return *a.noAuth, true
}

// Authenticate checks the credentials a client sent in CONNECT; nonce is
// the nonce the server sent it in INFO (nil when none was sent). The
// error wraps ErrAuthentication and names the user or nkey claimed, never
// a password or token. With authentication off, everyone is let in as an
// anonymous identity. The cost is one bcrypt comparison when the stored
// password is a bcrypt hash, which is why the server calls this once per
// connection.
func (a *Authenticator) Authenticate(c Credentials, nonce []byte) (Identity, error) {
	if !a.required {
		return Identity{}, nil
	}
	if a.noAuth != nil && c.User == "" && c.Password == "" && c.Token == "" && c.Nkey == "" {
		return *a.noAuth, nil
	}
	switch {
	case c.Nkey != "" && a.nkeys != nil:
		return a.checkNkey(c, nonce)
	case a.passwords != nil:
		if stored, ok := a.passwords[c.User]; ok && c.User != "" && stored.matches(c.Password) {
			return Identity{Name: c.User, Method: MethodPassword, Permissions: a.perms[c.User], Account: a.accounts[c.User]}, nil
		}
	case a.user != "":
		// Both compared, so timing does not tell which one was wrong.
		userOK := newSecret(a.user).matches(c.User)
		if a.password.matches(c.Password) && userOK {
			return Identity{Name: c.User, Method: MethodPassword}, nil
		}
	case a.token.set:
		if a.token.matches(c.Token) {
			return Identity{Method: MethodToken}, nil
		}
	}
	return Identity{}, failure(c)
}

func (a *Authenticator) checkNkey(c Credentials, nonce []byte) (Identity, error) {
	kp, ok := a.nkeys[c.Nkey]
	if !ok || len(nonce) == 0 {
		return Identity{}, failure(c)
	}
	sig, err := decodeSig(c.Sig)
	if err != nil || kp.Verify(nonce, sig) != nil {
		return Identity{}, failure(c)
	}
	return Identity{Name: c.Nkey, Method: MethodNkey, Permissions: a.perms[c.Nkey], Account: a.accounts[c.Nkey]}, nil
}

// failure is the error for a refused client, naming what it claimed to
// be in nats-server's words.
func failure(c Credentials) error {
	switch {
	case c.Nkey != "":
		return fmt.Errorf("%w - Nkey %q", ErrAuthentication, c.Nkey)
	case c.User != "":
		return fmt.Errorf("%w - User %q", ErrAuthentication, c.User)
	case c.Token != "":
		return fmt.Errorf("%w - Token \"[REDACTED]\"", ErrAuthentication)
	}
	return ErrAuthentication
}

// IsBcrypt reports whether s looks like a bcrypt hash: "$2a$", "$2b$",
// "$2x$" or "$2y$", two cost digits and "$" (nats-server's test).
func IsBcrypt(s string) bool {
	if len(s) < 7 || !strings.HasPrefix(s, "$2") || s[3] != '$' || s[6] != '$' {
		return false
	}
	switch s[2] {
	case 'a', 'b', 'x', 'y':
	default:
		return false
	}
	return isDigit(s[4]) && isDigit(s[5])
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }
