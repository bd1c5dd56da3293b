package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/conf"

	"github.com/cairn-db/cairn/internal/auth"
)

// Error is an invalid value in a config file. Its text names the file,
// the line and the key: "cairn.conf:12: max_payload: expected a size,
// got \"big\"".
type Error struct {
	File string
	Line int
	Key  string // the key, dotted below the top level ("jetstream.max_mem")
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
}

// Config is a parsed and validated config file. A zero field was not in
// the file (or was set to its zero value, which means the same: the
// default). Flags override it field by field in cmd/cairn-server.
type Config struct {
	// File is the path the config was loaded from.
	File string
	// Digest is "sha256:…" over the parsed file, as nats-server computes
	// it (-t prints it).
	Digest string

	Host       string // listen, host, net
	Port       int    // listen, port; -1 picks a free port
	ServerName string // server_name

	// JetStream is nil when the file has no jetstream key; Cairn then
	// keeps its default (KV on), unlike nats-server, which leaves
	// JetStream off.
	JetStream *JetStream

	MaxPayload       int           // max_payload
	MaxControlLine   int           // max_control_line
	MaxPending       int           // max_pending
	MaxConnections   int           // max_connections, max_conn; <=0 in the file: no limit (NoLimit)
	MaxSubscriptions int           // max_subscriptions, max_subs
	PingInterval     time.Duration // ping_interval
	PingMax          int           // ping_max
	WriteDeadline    time.Duration // write_deadline

	Logging  Logging  // logging.go
	LameDuck LameDuck // lame_duck_duration, lame_duck_grace_period

	// Monitoring ports (http, http_port/monitor_port, https, https_port).
	// Both are served (internal/monitor), HTTPS with the tls block.
	HTTPHost  string
	HTTPPort  int
	HTTPSPort int

	// Security. Parsed and validated; wired by internal/auth.
	Authorization *Authorization // authorization {}
	Accounts      []Account      // accounts {}, sorted by name
	NoAuthUser    string         // no_auth_user
	SystemAccount string         // system_account
	TLS           *TLS           // tls {}
	AllowNonTLS   bool           // allow_non_tls

	// Cluster is the cluster block and ClientAdvertise the top-level
	// client_advertise (cluster.go).
	Cluster         *Cluster
	ClientAdvertise string

	// Warnings name keys Cairn does not support (ignored) and values it
	// accepted with a caveat, each "file:line: key: text". The caller
	// logs them at start.
	Warnings []string
}

// NoLimit is MaxConnections for "max_connections: 0" (nats-server: no
// limit).
const NoLimit = 1<<31 - 1

// JetStream is the jetstream key: true, "enabled", false, "disabled" or a
// map.
type JetStream struct {
	Enabled        bool
	StoreDir       string        // store_dir, store, storedir
	MaxMemoryStore int64         // max_memory_store, max_mem_store, max_mem; -1 no limit
	MaxFileStore   int64         // max_file_store, max_file; -1 no limit
	SyncInterval   time.Duration // sync_interval, sync
	SyncAlways     bool          // sync_interval: always
	Batch          BatchLimits   // limits { batch { … } } (batch.go)
}

// Load reads and validates the config file at path (nats-server syntax,
// with includes relative to the file, variables and environment
// references). It returns a Config, or nil and an error naming file,
// line and key. It never panics on any input.
func Load(path string) (c *Config, err error) {
	defer func() {
		// The conf package is fuzzed upstream; should it still panic,
		// a bad file is an error here, not a crash.
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%s: cannot parse: %v", path, r)
		}
	}()
	m, digest, err := conf.ParseFileWithChecksDigest(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c = &Config{File: path, Digest: digest}
	top := value{v: m, file: path, line: 1}
	keys, err := top.mapping("")
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(keys) {
		if err := c.topKey(k, keys[k]); err != nil {
			return nil, err
		}
	}
	if err := c.check(top); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) warn(s string) { c.Warnings = append(c.Warnings, s) }

func sortedKeys(m map[string]value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// topKey applies one top-level key.
func (c *Config) topKey(k string, v value) error {
	var err error
	switch k {
	case "listen":
		c.Host, c.Port, err = hostPort(k, v)
	case "host", "net":
		c.Host, err = v.str(k)
	case "port":
		c.Port, err = port(k, v)
	case "server_name":
		if c.ServerName, err = v.str(k); err == nil && strings.ContainsAny(c.ServerName, " \t") {
			err = v.errorf(k, "server name cannot contain spaces")
		}
	case "jetstream":
		err = c.jetStream(k, v)
	case "store_dir", "storedir":
		if c.JetStream == nil {
			c.JetStream = &JetStream{Enabled: true}
		}
		if c.JetStream.StoreDir != "" {
			// nats-server refuses it too ("Duplicate 'store_dir'").
			return v.errorf(k, "store_dir given both here and in jetstream")
		}
		c.JetStream.StoreDir, err = v.str(k)
	case "max_payload":
		c.MaxPayload, err = intSize(k, v)
	case "max_control_line":
		c.MaxControlLine, err = intSize(k, v)
	case "max_pending":
		c.MaxPending, err = intSize(k, v)
	case "max_connections", "max_conn":
		var n int64
		if n, err = v.integer(k); err == nil {
			c.MaxConnections = int(min(n, NoLimit))
			if n <= 0 {
				c.MaxConnections = NoLimit
			}
		}
	case "max_subscriptions", "max_subs":
		c.MaxSubscriptions, err = intSize(k, v)
	case "ping_interval":
		c.PingInterval, err = v.duration(k, c.warn)
	case "ping_max":
		c.PingMax, err = intSize(k, v)
	case "write_deadline":
		c.WriteDeadline, err = v.duration(k, c.warn)
	default:
		return c.otherKey(k, v)
	}
	return err
}

// otherKey applies logging, monitoring and security keys, and sorts the
// rest into warnings (unsupported) and errors (unsupported security).
func (c *Config) otherKey(k string, v value) error {
	if ok, err := c.loggingKey(k, v); ok {
		return err
	}
	var err error
	switch k {
	case "http":
		c.HTTPHost, c.HTTPPort, err = hostPort(k, v)
	case "https":
		c.HTTPHost, c.HTTPSPort, err = hostPort(k, v)
	case "http_port", "monitor_port":
		c.HTTPPort, err = port(k, v)
	case "https_port":
		c.HTTPSPort, err = port(k, v)
	case "authorization":
		c.Authorization, err = parseAuthorization(k, v)
	case "accounts":
		c.Accounts, err = parseAccounts(k, v)
	case "no_auth_user":
		c.NoAuthUser, err = v.str(k)
	case "system_account", "system":
		c.SystemAccount, err = v.str(k)
	case "tls":
		c.TLS, err = parseTLS(k, v)
	case "allow_non_tls":
		c.AllowNonTLS, err = v.boolean(k)
	case "cluster":
		c.Cluster, err = parseCluster(k, v, c.warn)
	case "client_advertise":
		c.ClientAdvertise, err = v.str(k)
	default:
		if securityKeys[k] {
			return v.errorf(k, "not supported by Cairn; refusing to run with less protection than configured")
		}
		if k == "leafnodes" || k == "leaf" || k == "gateway" {
			return c.linkKey(k, v)
		}
		c.warn(v.warnf(k, "not supported by Cairn, ignored"))
	}
	return err
}

// securityKeys are keys whose protection Cairn cannot give: their
// presence refuses the file.
var securityKeys = map[string]bool{
	"operator": true, "operators": true, "root": true, "roots": true,
	"resolver": true, "resolver_preload": true, "resolver_tls": true,
	"resolver_pinned_accounts": true, "trusted": true, "trusted_keys": true,
	"auth_callout": true, "auth_hook": true, "default_sentinel": true,
	"ocsp": true, "ocsp_cache": true, "proxies": true,
}

// linkKey handles leafnodes and gateway: unsupported, a warning, unless
// they carry authorization or tls, which Cairn cannot enforce.
func (c *Config) linkKey(k string, v value) error {
	if m, ok := v.v.(map[string]any); ok {
		sub, _ := v.mapping(k)
		for _, s := range []string{"authorization", "tls"} {
			if _, ok := m[s]; ok {
				return sub[s].errorf(k+"."+s, "not supported by Cairn; refusing to run with less protection than configured")
			}
		}
	}
	c.warn(v.warnf(k, "not supported by Cairn, ignored"))
	return nil
}

// jetStream parses true | false | "enabled" | "disabled" | { … }.
func (c *Config) jetStream(k string, v value) error {
	if c.JetStream == nil {
		c.JetStream = &JetStream{}
	}
	js := c.JetStream
	if on, ok, err := v.enabled(k); ok {
		js.Enabled = on
		return err
	}
	m, err := v.mapping(k)
	if err != nil {
		return v.errorf(k, "expected true, false, 'enabled', 'disabled' or a map, got %s", describe(v.v))
	}
	js.Enabled = true
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		switch mk {
		case "store_dir", "store", "storedir":
			js.StoreDir, err = mv.str(key)
		case "max_memory_store", "max_mem_store", "max_mem":
			js.MaxMemoryStore, err = mv.storageSize(key)
		case "max_file_store", "max_file":
			js.MaxFileStore, err = mv.storageSize(key)
		case "sync_interval", "sync":
			if s, ok := mv.v.(string); ok && strings.EqualFold(s, "always") {
				js.SyncAlways = true
			} else if js.SyncInterval, err = mv.duration(key, c.warn); err == nil && js.SyncInterval == 0 {
				err = mv.errorf(key, "expected a positive duration or 'always'")
			}
		case "limits":
			err = c.jetStreamLimits(key, mv)
		case "enabled", "enable":
			js.Enabled, err = mv.boolean(key)
		case "key", "ek", "encryption_key", "prev_key", "prev_ek", "prev_encryption_key", "cipher", "tpm":
			return mv.errorf(key, "encryption at rest is not supported by Cairn; refusing to run with less protection than configured")
		default:
			c.warn(mv.warnf(key, "not supported by Cairn, ignored"))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// check validates what spans keys.
func (c *Config) check(top value) error {
	if err := c.checkLameDuck(top); err != nil {
		return err
	}
	if c.NoAuthUser != "" && !c.hasUser(c.NoAuthUser) {
		return top.errorf("no_auth_user", "%q is not a configured user", c.NoAuthUser)
	}
	if c.SystemAccount != "" && c.SystemAccount != "$SYS" && !c.hasAccount(c.SystemAccount) {
		return top.errorf("system_account", "account %q is not defined", c.SystemAccount)
	}
	seen := map[string]string{}
	for _, u := range c.users() {
		name := u.user.Name
		if name == "" {
			name = u.user.Nkey
		}
		if prev, dup := seen[name]; dup {
			return top.errorf("users", "user %q defined twice (%s and %s)", name, prev, u.where)
		}
		seen[name] = u.where
	}
	if c.TLS != nil && c.TLS.VerifyAndMap {
		var names []string
		for _, u := range c.users() {
			names = append(names, u.user.Name)
		}
		if err := auth.CheckCertMapUsers(names); err != nil {
			return top.errorf("users", "%s", strings.TrimPrefix(err.Error(), auth.ErrConfig.Error()+": "))
		}
	}
	return nil
}

type placedUser struct {
	user  User
	where string // "authorization" or "accounts.NAME"
}

func (c *Config) users() []placedUser {
	var out []placedUser
	if c.Authorization != nil {
		for _, u := range c.Authorization.Users {
			out = append(out, placedUser{u, "authorization"})
		}
	}
	for _, a := range c.Accounts {
		for _, u := range a.Users {
			out = append(out, placedUser{u, "accounts." + a.Name})
		}
	}
	return out
}

func (c *Config) hasUser(name string) bool {
	for _, u := range c.users() {
		if u.user.Name == name || u.user.Nkey == name {
			return true
		}
	}
	return false
}

func (c *Config) hasAccount(name string) bool {
	for _, a := range c.Accounts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// hostPort reads a port number or a "host:port" string.
func hostPort(k string, v value) (string, int, error) {
	switch x := v.v.(type) {
	case int64:
		p, err := port(k, v)
		return "", p, err
	case string:
		i := strings.LastIndexByte(x, ':')
		if i < 0 {
			return "", 0, v.errorf(k, "expected a port or host:port, got %q", x)
		}
		var p int64
		if _, err := fmt.Sscanf(x[i+1:], "%d", &p); err != nil || fmt.Sprint(p) != x[i+1:] {
			return "", 0, v.errorf(k, "could not parse port in %q", x)
		}
		n, err := port(k, value{v: p, file: v.file, line: v.line})
		return strings.Trim(x[:i], "[]"), n, err
	}
	return "", 0, v.errorf(k, "expected a port or host:port, got %s", describe(v.v))
}

func port(k string, v value) (int, error) {
	n, err := v.integer(k)
	if err != nil {
		return 0, err
	}
	if n < -1 || n > 65535 {
		return 0, v.errorf(k, "port %d out of range: use 0-65535, or -1 for a free port", n)
	}
	return int(n), nil
}

// intSize reads a non-negative size that fits a 32-bit int, as
// nats-server's limits do.
func intSize(k string, v value) (int, error) {
	n, err := v.size(k, 1<<31-1)
	return int(n), err
}
