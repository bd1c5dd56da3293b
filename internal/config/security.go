package config

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/auth"
)

// Authorization is the authorization block. At most one of User/Password,
// Token or Users is set (nats-server refuses the mix; so does Load).
type Authorization struct {
	User     string // user, username
	Password string // pass, password; plain or bcrypt ("$2a$…")
	Token    string
	Timeout  time.Duration // timeout (seconds, or a duration)
	Users    []User
	// DefaultPermissions apply to users without their own
	// (default_permissions, default_permission, permissions).
	DefaultPermissions *Permissions
}

// User is one entry of a users list: a name and password, or an nkey.
type User struct {
	Name        string // user, username
	Password    string // pass, password
	Nkey        string // a public user nkey ("U…")
	Permissions *Permissions
	// Account is the account that lists this user ("" in authorization:
	// the global account).
	Account string
}

// Permissions are a user's publish and subscribe rules.
type Permissions struct {
	Publish   *SubjectPermission // publish, pub
	Subscribe *SubjectPermission // subscribe, sub
	// Responses is allow_responses: nil when absent.
	Responses *ResponsePermission
}

// SubjectPermission lists allowed and denied subjects; a bare list in the
// file is Allow.
type SubjectPermission struct {
	Allow []string
	Deny  []string
}

// ResponsePermission is allow_responses: true (MaxMsgs 1, Expires 0: the
// nats-server defaults) or { max, expires }.
type ResponsePermission struct {
	MaxMsgs int
	Expires time.Duration
}

// Account is one entry of the accounts block.
type Account struct {
	Name               string
	Users              []User
	DefaultPermissions *Permissions
	// JetStream is the account's jetstream: enabled or limits; nil when
	// absent or disabled.
	JetStream *AccountJetStream
}

// AccountJetStream is an account's JetStream limits; -1 (or 0 when not
// given) is no limit.
type AccountJetStream struct {
	MaxMemory, MaxFile       int64
	MaxStreams, MaxConsumers int
}

// TLS is the tls block for client connections.
type TLS struct {
	CertFile, KeyFile, CAFile string
	Verify                    bool
	VerifyAndMap              bool
	Timeout                   time.Duration
	// HandshakeFirst waits for the client's TLS handshake before INFO;
	// HandshakeFirstFallback, when set, falls back to plain INFO after it.
	HandshakeFirst         bool
	HandshakeFirstFallback time.Duration

	config *tls.Config // built by parseTLS (tls.go)
}

// Cluster is the cluster block (applied by cluster.go).
type Cluster struct {
	Name          string
	Host          string
	Port          int
	Advertise     string
	NoAdvertise   bool
	Routes        []string
	Authorization *Authorization
	TLS           *TLS
}

func refuse(v value, key string) error {
	return v.errorf(key, "not supported by Cairn; refusing to run with less protection than configured")
}

func parseAuthorization(k string, v value) (*Authorization, error) {
	m, err := v.mapping(k)
	if err != nil {
		return nil, err
	}
	a := &Authorization{}
	if err := oneOf(v, k, m, []string{"user", "username"}, []string{"pass", "password"},
		[]string{"default_permission", "default_permissions", "permissions"}); err != nil {
		return nil, err
	}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "user", "username":
			a.User, err = mv.str(key)
		case "pass", "password":
			a.Password, err = mv.str(key)
		case "token":
			a.Token, err = mv.str(key)
		case "timeout":
			a.Timeout, err = mv.seconds(key)
		case "users":
			a.Users, err = parseUsers(key, mv, "")
		case "default_permission", "default_permissions", "permissions":
			a.DefaultPermissions, err = parsePermissions(key, mv)
		default:
			// auth_callout, proxy_required and anything new: refused.
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	switch {
	case (a.User != "" || a.Password != "") && a.Token != "":
		return nil, v.errorf(k, "cannot have a user/password and a token")
	case a.Password != "" && a.User == "":
		return nil, v.errorf(k, "password without user")
	case a.Users != nil && a.User != "":
		return nil, v.errorf(k, "cannot have a single user/password and a users array")
	case a.Users != nil && a.Token != "":
		return nil, v.errorf(k, "cannot have a token and a users array")
	}
	return a, nil
}

func parseUsers(k string, v value, account string) ([]User, error) {
	if _, ok := v.v.([]any); !ok {
		return nil, v.errorf(k, "expected an array of users, got %s", describe(v.v))
	}
	users := []User{}
	for _, e := range v.list() {
		m, err := e.mapping(k)
		if err != nil {
			return nil, err
		}
		u := User{Account: account}
		if err := oneOf(e, k, m, []string{"user", "username"}, []string{"pass", "password"},
			[]string{"permission", "permissions", "authorization"}); err != nil {
			return nil, err
		}
		for _, mk := range sortedKeys(m) {
			mv, key := m[mk], k+"."+mk
			switch mk {
			case "user", "username":
				u.Name, err = mv.str(key)
			case "pass", "password":
				u.Password, err = mv.str(key)
			case "nkey":
				if u.Nkey, err = mv.str(key); err == nil && (len(u.Nkey) != 56 || u.Nkey[0] != 'U') {
					err = mv.errorf(key, "expected a public user nkey (56 characters starting with U)")
				}
			case "permission", "permissions", "authorization":
				u.Permissions, err = parsePermissions(key, mv)
			default:
				// allowed_connection_types, proxy_required: restrictions
				// Cairn cannot enforce.
				return nil, refuse(mv, key)
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case u.Name == "" && u.Nkey == "":
			return nil, e.errorf(k, "a user needs user or nkey")
		case u.Name != "" && u.Nkey != "":
			return nil, e.errorf(k, "a user has user or nkey, not both")
		case u.Nkey != "" && u.Password != "":
			return nil, e.errorf(k, "an nkey user has no password")
		}
		users = append(users, u)
	}
	return users, nil
}

// oneOf refuses a map that gives one setting under two of its names
// (default_permissions and permissions, pub and publish): one would
// silently replace the other, and a server must not run with less
// protection than its file asks for.
func oneOf(v value, k string, m map[string]value, groups ...[]string) error {
	for _, names := range groups {
		var given []string
		for _, n := range names {
			if _, ok := m[n]; ok {
				given = append(given, n)
			}
		}
		if len(given) > 1 {
			return v.errorf(k, "%s name the same setting; give only one", strings.Join(given, " and "))
		}
	}
	return nil
}

func parsePermissions(k string, v value) (*Permissions, error) {
	m, err := v.mapping(k)
	if err != nil {
		return nil, err
	}
	p := &Permissions{}
	if err := oneOf(v, k, m, []string{"pub", "publish"}, []string{"sub", "subscribe"},
		[]string{"allow_responses", "publish_allow_responses"}); err != nil {
		return nil, err
	}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "pub", "publish":
			p.Publish, err = parseSubjectPermission(key, mv)
		case "sub", "subscribe":
			p.Subscribe, err = parseSubjectPermission(key, mv)
		case "allow_responses", "publish_allow_responses":
			p.Responses, err = parseResponses(key, mv)
		default:
			// import/export (account-level forms) and anything new.
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	if _, err := p.Compile(); err != nil {
		return nil, v.errorf(k, "%v", strings.TrimPrefix(err.Error(), "auth: invalid configuration: "))
	}
	return p, nil
}

// Compile returns the publish and subscribe rules and allow_responses
// as internal/auth enforces them (nil when they restrict nothing).
func (p *Permissions) Compile() (*auth.Permissions, error) {
	if p == nil {
		return nil, nil
	}
	rules := func(sp *SubjectPermission) *auth.Rules {
		if sp == nil {
			return nil
		}
		return &auth.Rules{Allow: sp.Allow, Deny: sp.Deny}
	}
	var resp *auth.Responses
	if r := p.Responses; r != nil {
		resp = &auth.Responses{MaxMsgs: r.MaxMsgs, Expires: r.Expires}
	}
	return auth.NewPermissionsWithResponses(rules(p.Publish), rules(p.Subscribe), resp)
}

func parseSubjectPermission(k string, v value) (*SubjectPermission, error) {
	sp := &SubjectPermission{}
	if _, ok := v.v.(map[string]any); !ok {
		var err error
		sp.Allow, err = allowList(k, v)
		return sp, err
	}
	// The error (keys given twice in different case, such as deny and
	// Deny) must not be dropped: the rules would silently be empty.
	m, err := v.mapping(k)
	if err != nil {
		return nil, err
	}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "allow":
			sp.Allow, err = allowList(key, mv)
		case "deny":
			sp.Deny, err = subjects(key, mv)
		default:
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// allowList is subjects for an allow list, which may not be empty: an
// empty list reads as "allow nothing" but nats-server (and so Cairn)
// treats it as no list at all, allowing everything.
func allowList(k string, v value) ([]string, error) {
	if a, ok := v.v.([]any); ok && len(a) == 0 {
		return nil, v.errorf(k, "an empty allow list allows everything; list the subjects to allow, or deny \">\" to allow none")
	}
	return subjects(k, v)
}

// subjects is a subject or a list of them, each non-empty and without
// white space or empty tokens.
func subjects(k string, v value) ([]string, error) {
	list, err := v.strings(k)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		queue := strings.SplitN(s, " ", 2) // "subject queue" in subscribe permissions
		subj := queue[0]
		if subj == "" || strings.ContainsAny(subj, "\t\r\n") || strings.Contains("."+subj+".", "..") {
			return nil, v.errorf(k, "invalid subject %q", s)
		}
	}
	return list, nil
}

func parseResponses(k string, v value) (*ResponsePermission, error) {
	rp := &ResponsePermission{MaxMsgs: 1}
	if b, ok := v.v.(bool); ok {
		if !b {
			return nil, nil
		}
		return rp, nil
	}
	m, err := v.mapping(k)
	if err != nil {
		return nil, v.errorf(k, "expected true, false or a map, got %s", describe(v.v))
	}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "max", "max_msgs", "max_messages", "max_responses":
			var n int64
			n, err = mv.size(key, 1<<31-1)
			rp.MaxMsgs = int(n)
		case "expires", "expiration", "ttl":
			rp.Expires, err = mv.duration(key, func(string) {})
		default:
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	return rp, nil
}

func parseAccounts(k string, v value) ([]Account, error) {
	m, err := v.names(k)
	if err != nil {
		return nil, err
	}
	var out []Account
	for _, name := range sortedKeys(m) {
		av, key := m[name], k+"."+name
		am, err := av.mapping(key)
		if err != nil {
			return nil, err
		}
		if name == "$G" {
			// The global account (server.GlobalAccount) is not one to
			// configure: nats-server's words.
			return nil, av.errorf(key, "%q is a Reserved Account", name)
		}
		a := Account{Name: name}
		for _, mk := range sortedKeys(am) {
			mv, key := am[mk], key+"."+mk
			switch mk {
			case "users":
				a.Users, err = parseUsers(key, mv, name)
			case "default_permissions":
				a.DefaultPermissions, err = parsePermissions(key, mv)
			case "jetstream":
				a.JetStream, err = parseAccountJetStream(key, mv)
			default:
				// imports, exports, nkey, mappings, limits, msg_trace: an
				// account's behaviour Cairn cannot reproduce.
				return nil, refuse(mv, key)
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func parseAccountJetStream(k string, v value) (*AccountJetStream, error) {
	if on, ok, err := v.enabled(k); ok {
		if err != nil || !on {
			return nil, err
		}
		return &AccountJetStream{MaxMemory: -1, MaxFile: -1, MaxStreams: -1, MaxConsumers: -1}, nil
	}
	m, err := v.mapping(k)
	if err != nil {
		return nil, v.errorf(k, "expected enabled, disabled or a map, got %s", describe(v.v))
	}
	js := &AccountJetStream{MaxMemory: -1, MaxFile: -1, MaxStreams: -1, MaxConsumers: -1}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		var n int64
		switch mk {
		case "max_mem", "max_memory", "max_memory_store", "mem", "memory":
			js.MaxMemory, err = mv.storageSize(key)
		case "max_file", "max_store", "max_file_store", "store", "disk":
			js.MaxFile, err = mv.storageSize(key)
		case "max_streams", "streams":
			n, err = mv.integer(key)
			js.MaxStreams = int(max(min(n, 1<<31-1), -1))
		case "max_consumers", "consumers":
			n, err = mv.integer(key)
			js.MaxConsumers = int(max(min(n, 1<<31-1), -1))
		default:
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	return js, nil
}

func parseTLS(k string, v value) (*TLS, error) {
	m, err := v.mapping(k)
	if err != nil {
		return nil, err
	}
	t := &TLS{}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "cert_file":
			t.CertFile, err = readableFile(key, mv)
		case "key_file":
			t.KeyFile, err = readableFile(key, mv)
		case "ca_file":
			t.CAFile, err = readableFile(key, mv)
		case "verify":
			t.Verify, err = mv.boolean(key)
		case "verify_and_map":
			t.VerifyAndMap, err = mv.boolean(key)
		case "timeout":
			t.Timeout, err = mv.seconds(key)
		case "handshake_first", "first", "immediate":
			err = t.handshakeFirst(key, mv)
		default:
			// cipher_suites, pinned_certs, min_version, insecure, …
			return nil, refuse(mv, key)
		}
		if err != nil {
			return nil, err
		}
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, v.errorf(k, "cert_file and key_file are required")
	}
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		return nil, v.errorf(k, "cannot load the certificate: %v", err)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil || !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, v.errorf(k, "ca_file %q holds no PEM certificate", t.CAFile)
		}
	}
	if t.VerifyAndMap {
		t.Verify = true
	}
	if t.config, err = t.serverConfig(); err != nil {
		return nil, v.errorf(k, "%v", err)
	}
	return t, nil
}

// handshakeFirst reads true/false, "auto" (fall back after 50ms, as
// nats-server) or a fallback duration.
func (t *TLS) handshakeFirst(k string, v value) error {
	switch x := v.v.(type) {
	case bool:
		t.HandshakeFirst = x
		return nil
	case string:
		switch strings.ToLower(x) {
		case "true", "on":
			t.HandshakeFirst = true
		case "false", "off":
		case "auto", "auto_fallback":
			t.HandshakeFirst, t.HandshakeFirstFallback = true, 50*time.Millisecond
		default:
			d, err := time.ParseDuration(x)
			if err != nil || d <= 0 {
				return v.errorf(k, "expected true, false, auto or a duration, got %q", x)
			}
			t.HandshakeFirst, t.HandshakeFirstFallback = true, d
		}
		return nil
	}
	return v.errorf(k, "expected true, false, auto or a duration, got %s", describe(v.v))
}

func readableFile(k string, v value) (string, error) {
	s, err := v.str(k)
	if err != nil {
		return "", err
	}
	f, err := os.Open(s)
	if err != nil {
		return "", v.errorf(k, "cannot read %q: %v", s, err)
	}
	f.Close()
	return s, nil
}

func parseCluster(k string, v value, warn func(string)) (*Cluster, error) {
	m, err := v.mapping(k)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "name":
			c.Name, err = mv.str(key)
		case "listen":
			c.Host, c.Port, err = hostPort(key, mv)
		case "host", "net":
			c.Host, err = mv.str(key)
		case "port":
			c.Port, err = port(key, mv)
		case "advertise", "cluster_advertise":
			c.Advertise, err = mv.str(key)
		case "no_advertise":
			c.NoAdvertise, err = mv.boolean(key)
		case "routes":
			c.Routes, err = parseRoutes(key, mv, warn) // cluster.go
		case "authorization":
			c.Authorization, err = parseAuthorization(key, mv)
			if err == nil && c.Authorization.Users != nil {
				err = mv.errorf(key, "a users array is not supported in cluster authorization")
			}
		case "tls":
			c.TLS, err = parseTLS(key, mv)
		case "permissions":
			return nil, refuse(mv, key)
		default:
			warn(mv.warnf(key, "not supported by Cairn, ignored"))
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}
