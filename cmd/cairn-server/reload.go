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
	// nats-server reopens these; here they are set at start.
	if n.logFile != cur.logFile {
		log.Warnf("log_file changed: restart to apply")
	}
	if n.pidFile != cur.pidFile {
		log.Warnf("pid_file changed: restart to apply")
	}
	n.logFile, n.pidFile = cur.logFile, cur.pidFile
	n.cfg.Server.Logger = log
	if err := d.Reload(n.cfg); err != nil {
		log.Errorf(failed, err)
		return cur
	}
	log.Noticef("Reloaded server configuration (%s)", n.file.Digest)
	return n
}
