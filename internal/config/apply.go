package config

import (
	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/jsapi"
)

// Apply copies what the file set into dc, leaving dc's other fields
// alone: a key absent from the file (or set to its zero value) keeps
// dc's value. The authorization block and no_auth_user become the
// server's authentication (dc.Server.Auth), with each user's publish and
// subscribe permissions and allow_responses (the default permissions
// for users without their own), and the tls block and allow_non_tls its
// TLS (tls.go); the accounts block becomes dc.Accounts and its users
// join the users list, each in its account; verify_and_map is not in
// daemon.Config yet, and the caller refuses to run with it
// (cmd/cairn-server).
// Logging files and monitoring are read from c.
func (c *Config) Apply(dc *daemon.Config) {
	so := &dc.Server
	setString(&so.Host, c.Host)
	setInt(&so.Port, c.Port)
	setString(&so.Name, c.ServerName)
	setInt(&so.MaxPayload, c.MaxPayload)
	setInt(&so.MaxControlLine, c.MaxControlLine)
	setInt(&so.MaxPending, c.MaxPending)
	setInt(&so.MaxConnections, c.MaxConnections)
	setInt(&so.MaxSubscriptions, c.MaxSubscriptions)
	setInt(&so.MaxPingsOut, c.PingMax)
	if c.PingInterval > 0 {
		so.PingInterval = c.PingInterval
	}
	if c.WriteDeadline > 0 {
		so.WriteDeadline = c.WriteDeadline
	}
	so.Debug = so.Debug || c.Logging.Debug
	so.Trace = so.Trace || c.Logging.Trace
	setInt(&dc.HTTPPort, c.HTTPPort)
	setString(&dc.HTTPHost, c.HTTPHost)
	setInt(&dc.HTTPSPort, c.HTTPSPort)
	if a := c.Authorization; a != nil {
		so.Auth.User, so.Auth.Password, so.Auth.Token = a.User, a.Password, a.Token
		so.Auth.Timeout = a.Timeout
		so.Auth.Users = nil
		for _, u := range a.Users {
			perms := u.Permissions
			if perms == nil {
				perms = a.DefaultPermissions // as nats-server: users without their own
			}
			// Validated by Load, so the error cannot happen here.
			p, _ := perms.Compile()
			so.Auth.Users = append(so.Auth.Users, auth.User{Name: u.Name, Password: u.Password, Nkey: u.Nkey, Permissions: p})
		}
	}
	c.applyAccounts(dc)
	setString(&so.Auth.NoAuthUser, c.NoAuthUser)
	setString(&dc.SystemAccount, c.SystemAccount)
	c.applyTLS(so)
	c.applyCluster(dc)
	if js := c.JetStream; js != nil {
		dc.DisableKV = !js.Enabled
		setString(&dc.StoreDir, js.StoreDir)
		if js.MaxMemoryStore != 0 {
			dc.MaxMemoryStore = js.MaxMemoryStore
		}
		if js.MaxFileStore != 0 {
			dc.MaxFileStore = js.MaxFileStore
		}
		if js.SyncAlways {
			dc.SyncAlways = true
		} else if js.SyncInterval > 0 {
			dc.SyncInterval = js.SyncInterval
		}
		c.applyBatchLimits(dc) // batch.go
	}
}

// applyAccounts adds each account's users to the users list, in their
// account (with the account's default permissions when they have none
// of their own), and lists the accounts with their JetStream limits.
func (c *Config) applyAccounts(dc *daemon.Config) {
	if len(c.Accounts) == 0 {
		return
	}
	dc.Accounts = nil
	for _, a := range c.Accounts {
		for _, u := range a.Users {
			perms := u.Permissions
			if perms == nil {
				perms = a.DefaultPermissions
			}
			p, _ := perms.Compile() // validated by Load
			dc.Server.Auth.Users = append(dc.Server.Auth.Users, auth.User{Name: u.Name, Password: u.Password, Nkey: u.Nkey, Permissions: p, Account: a.Name})
		}
		da := daemon.Account{Name: a.Name}
		if js := a.JetStream; js != nil {
			da.JetStream = &jsapi.AccountLimits{MaxMemory: js.MaxMemory, MaxFile: js.MaxFile, MaxStreams: js.MaxStreams, MaxConsumers: js.MaxConsumers}
		}
		dc.Accounts = append(dc.Accounts, da)
	}
}

func setString(dst *string, s string) {
	if s != "" {
		*dst = s
	}
}

func setInt(dst *int, n int) {
	if n != 0 {
		*dst = n
	}
}
