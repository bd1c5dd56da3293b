package config

import "github.com/cairn-db/cairn/internal/daemon"

// Apply copies what the file set into dc, leaving dc's other fields
// alone: a key absent from the file (or set to its zero value) keeps
// dc's value. Logging files, monitoring and security are not in
// daemon.Config; the caller reads them from c.
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
