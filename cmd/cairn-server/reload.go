package main

import (
	"io"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// reload re-reads the config file on SIGHUP and applies it (see
// daemon.Reload and internal/server reload.go), with the command line
// over the file as at start, so a value a flag gave keeps winning. It
// returns the options in force: cur when the file cannot be read or the
// reload is refused, which is logged with nats-server's words and
// leaves the server as it was.
func reload(args []string, cur *options, d *daemon.Daemon, log *server.Logger) *options {
	const failed = "Failed to reload server configuration: %v"
	if cur.configFile == "" {
		log.Errorf(failed, "can only reload config when a file is provided using -c or --config")
		return cur
	}
	n, err := parseFlags(args, io.Discard)
	if err == nil {
		err = refuseUnenforced(n.file)
	}
	if err != nil {
		log.Errorf(failed, err)
		return cur
	}
	for _, w := range fileWarnings(n.file) {
		log.Warnf("%s", w)
	}
	// The pid file is written at start (nats-server does the same).
	if n.pidFile != cur.pidFile {
		log.Warnf("pid_file changed: restart to apply")
	}
	n.pidFile = cur.pidFile
	n.cfg.Server.Logger = log
	if err := d.Reload(n.cfg); err != nil {
		log.Errorf(failed, err)
		return cur
	}
	// Logging changes apply at once (a new log file is opened before
	// the old one is closed); a file that cannot be opened keeps the
	// old logging and is logged.
	if err := log.Configure(n.logConfig()); err != nil {
		log.Errorf("Log settings not reloaded: %v", err)
		n.logFile, n.logtime, n.logtimeUTC, n.logFormat = cur.logFile, cur.logtime, cur.logtimeUTC, cur.logFormat
		n.logSizeLimit, n.logMaxNum = cur.logSizeLimit, cur.logMaxNum
		_ = log.Configure(n.logConfig())
	}
	log.Noticef("Reloaded server configuration (%s)", n.file.Digest)
	return n
}
