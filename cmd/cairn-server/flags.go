package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// options is the parsed command line.
type options struct {
	cfg     daemon.Config
	logFile string
	pidFile string
	version bool

	// Logging beyond -D/-V and -l (logConfig turns them into the
	// logger's configuration): -T/--logtime (on by default, as
	// nats-server), --logtime_utc, --log_size_limit, --log_max_num and
	// Cairn's --log_format text|json.
	logtime, logtimeUTC bool
	logSizeLimit        int64
	logMaxNum           int
	logFormat           string
	// lameDuck is the config file's lame_duck_duration and
	// lame_duck_grace_period (zero: the defaults).
	lameDuck config.LameDuck

	// configFile is -c/--config; file is what it holds (nil without
	// -c). checkConfig is -t: check the file and exit.
	configFile  string
	file        *config.Config
	checkConfig bool

	// signal is --signal <command>[=<pid>]: signal a running server
	// and exit (signal.go).
	signal string
}

// configError is a config file that cannot be used (exit status 1, as
// nats-server), as opposed to a bad command line (2).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

const usage = `Usage: cairn-server [options]

Cairn is a key/value server that speaks the NATS client protocol and
implements JetStream KV buckets. Flags follow nats-server's where they
overlap; both -flag and --flag are accepted.

Server options:
  -a, --addr, --net <host>     Bind to host address (default: 127.0.0.1;
                               use 0.0.0.0 to listen on all interfaces)
  -p, --port <port>            Client port (default: 4222; -1 picks a free port)
  -n, --name <name>            Server name (default: the server id)
  -P, --pid <file>             Write the process id to file
  -l, --log <file>             Log to file instead of standard error
  -D, --debug                  Enable debug logging
  -V, --trace                  Trace the raw protocol
  -DV                          Debug and trace
  -VV, -DVV                    As -V and -DV (nats-server's verbose trace)
  -T, --logtime                Timestamp log lines (default: true; -T=false
                               leaves the time out)
  --logtime_utc                Timestamps in UTC instead of local time
  --log_size_limit <bytes>     Rotate the log file past this size (renamed
                               with a time stamp; default: 0, never)
  --log_max_num <n>            Log files kept with rotation, the current one
                               included (default: 0, all)
  --log_format <text|json>     nats-server's text lines (default), or one
                               JSON object per line (time, level, msg, pid)
  -m, --http_port <port>       HTTP monitoring port (/healthz, /varz; -1
                               picks a free port; see docs/OPERATIONS.md)
  -ms, --https_port <port>     HTTPS monitoring port, with the tls block's
                               certificate (instead of --http_port)

Limits (nats-server sets these in its config file, under the same names):
  --max_payload <bytes>        Largest message accepted (default: 1048576)
  --max_control_line <bytes>   Longest protocol line (default: 4096)
  --max_pending <bytes>        Outbound bytes a client may lag before it is
                               cut off as a slow consumer (default: 67108864)
  --max_connections <n>        Client connections (default: 65536)
  --max_subscriptions <n>      Subscriptions per connection (default: 0,
                               no limit)

Authorization options (nats-server's; see docs/SECURITY.md):
  --user <user>                User required for connections
  --pass <password>            Password required for connections (plain, or
                               a bcrypt hash: $2a$...)
  --auth <token>               Authorization token required for connections

Storage options:
  -js, --jetstream             Accepted for compatibility; KV is on by default
  --no_kv                      Serve core NATS only, without KV/JetStream
  -sd, --store_dir <dir>       Data directory (default: ./cairn-data)
  --max_memory_store <bytes>   Bytes all memory buckets may hold (default: 75%
                               of the system's memory; -1: no limit)
  --max_file_store <bytes>     Bytes all file buckets may hold (default: 75% of
                               the free disk plus what is stored; -1: no limit)
  --sync_interval <duration|always>
                               How often writes are fsynced (default: 2m);
                               "always" fsyncs before every acknowledgement
  --store_cache <bytes>        Read cache shared by all buckets (default:
                               67108864)
  --store_memtable <bytes>     Writes held in memory before they are written
                               to table files, per account (default:
                               8388608; at least 1048576). With the cache,
                               the memory the store holds whatever its size

Cluster options (nats-server's; see docs/CLUSTERING.md):
  --cluster <url>              Route listener, nats://[user:pass@]host:port
                               (port -1 picks a free port)
  --cluster_name <name>        Cluster name (default: generated, with a warning)
  --routes <url,url,...>       Routes to connect to
  --cluster_advertise <host:port>
                               Route address to advertise to other nodes
  --client_advertise <host:port>
                               Client address to advertise to clients
  --no_advertise               Do not advertise client URLs to clients

Configuration:
  -c, --config <file>          Configuration file in nats-server's syntax;
                               flags given on the command line override it
  -t                           Check the configuration file and exit

Common options:
  -h, --help                   Show this message
  -v, --version                Show version
  -sl, --signal <signal>[=<pid>]
                               Send a signal to a running cairn-server and
                               exit: reload (re-read the config file, as
                               SIGHUP), reopen (the log file, as SIGUSR1),
                               ldm (lame duck mode, as SIGUSR2), quit, term,
                               or stop (SIGKILL); <pid> may be a pid file. Without it: the pid file
                               of -P or the config's pid_file, else the one
                               cairn-server process running
`

// parseFlags turns the command line into options. The error is meant for
// the user; flag.ErrHelp means help was asked for.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("cairn-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	so := &o.cfg.Server

	strVar(fs, &so.Host, server.DefaultHost, "a", "addr", "net")
	intVar(fs, &so.Port, server.DefaultPort, "p", "port")
	strVar(fs, &so.Name, "", "n", "name", "server_name")
	strVar(fs, &o.pidFile, "", "P", "pid")
	strVar(fs, &o.logFile, "", "l", "log")
	boolVar(fs, &so.Debug, "D", "debug")
	boolVar(fs, &so.Trace, "V", "trace")
	fs.BoolVar(&o.logtime, "T", true, "")
	fs.BoolVar(&o.logtime, "logtime", true, "")
	boolVar(fs, &o.logtimeUTC, "logtime_utc")
	fs.Int64Var(&o.logSizeLimit, "log_size_limit", 0, "")
	intVar(fs, &o.logMaxNum, 0, "log_max_num")
	strVar(fs, &o.logFormat, "", "log_format")
	var debugTrace, jetstream, help bool
	boolVar(fs, &debugTrace, "DV")
	// nats-server's verbose trace (-VV, -DVV) also traces its system
	// account, which Cairn does not have: the same as -V and -DV.
	boolVar(fs, &so.Trace, "VV")
	boolVar(fs, &debugTrace, "DVV")
	boolVar(fs, &jetstream, "js", "jetstream")
	boolVar(fs, &o.cfg.DisableKV, "no_kv")
	// -m is the monitoring port, as in nats-server (it once set
	// max_payload here, which silently broke "-m 8222").
	intVar(fs, &o.cfg.HTTPPort, 0, "m", "http_port")
	intVar(fs, &o.cfg.HTTPSPort, 0, "ms", "https_port")
	// Limits under their nats-server config keys; nats-server has no
	// flags for them.
	intVar(fs, &so.MaxPayload, 0, "max_payload")
	intVar(fs, &so.MaxControlLine, 0, "max_control_line")
	intVar(fs, &so.MaxPending, 0, "max_pending")
	intVar(fs, &so.MaxConnections, 0, "max_connections")
	intVar(fs, &so.MaxSubscriptions, 0, "max_subscriptions")
	strVar(fs, &o.cfg.StoreDir, daemon.DefaultStoreDir, "sd", "store_dir")
	// nats-server's authorization flags (internal/auth).
	strVar(fs, &so.Auth.User, "", "user")
	strVar(fs, &so.Auth.Password, "", "pass")
	strVar(fs, &so.Auth.Token, "", "auth")
	// jetstream { max_memory_store, max_file_store } in nats-server's
	// config file.
	fs.Int64Var(&o.cfg.MaxMemoryStore, "max_memory_store", 0, "")
	fs.Int64Var(&o.cfg.MaxFileStore, "max_file_store", 0, "")
	// Cairn's own: the store's fixed memory (issue 11).
	fs.Int64Var(&o.cfg.StoreCacheSize, "store_cache", 0, "")
	fs.Int64Var(&o.cfg.StoreMemTableSize, "store_memtable", 0, "")
	var sync string
	strVar(fs, &sync, "2m", "sync_interval", "sync")
	boolVar(fs, &help, "h", "help")
	boolVar(fs, &o.version, "v", "version")
	strVar(fs, &o.configFile, "", "c", "config")
	boolVar(fs, &o.checkConfig, "t")
	strVar(fs, &o.signal, "", "sl", "signal")
	var cf clusterFlags
	cf.define(fs)

	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w (see cairn-server --help)", err)
	}
	if o.configFile != "" && !help && !o.version && o.signal == "" {
		// As nats-server: the file over the defaults, then the command
		// line again over the file, so that only flags given win.
		f, err := config.Load(o.configFile)
		if err != nil {
			return nil, &configError{err}
		}
		o.file = f
		f.Apply(&o.cfg)
		setIfEmpty(&o.logFile, f.Logging.LogFile)
		setIfEmpty(&o.pidFile, f.Logging.PidFile)
		o.applyFileLogging(f)
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w (see cairn-server --help)", err)
		}
	} else if o.checkConfig && !help && !o.version && o.signal == "" {
		return nil, &configError{errors.New("must specify [-c, --config] option to check configuration file syntax")}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	syncSet := set["sync_interval"] || set["sync"]
	if jetstream && !set["no_kv"] {
		o.cfg.DisableKV = false // -js wins over the file's jetstream: false
	}
	if help {
		fmt.Fprint(stderr, usage)
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see cairn-server --help)", fs.Arg(0))
	}
	if debugTrace {
		so.Debug, so.Trace = true, true
	}
	if so.Port < -1 || so.Port > 65535 {
		return nil, fmt.Errorf("invalid port %d: use 0-65535, or -1 for a free port", so.Port)
	}
	if o.cfg.HTTPPort < -1 || o.cfg.HTTPPort > 65535 {
		return nil, fmt.Errorf("invalid --http_port %d: use 0-65535, or -1 for a free port", o.cfg.HTTPPort)
	}
	if o.cfg.HTTPSPort < -1 || o.cfg.HTTPSPort > 65535 {
		return nil, fmt.Errorf("invalid --https_port %d: use 0-65535, or -1 for a free port", o.cfg.HTTPSPort)
	}
	for _, l := range []struct {
		name  string
		value int
	}{{"max_payload", so.MaxPayload}, {"max_control_line", so.MaxControlLine}, {"max_pending", so.MaxPending}, {"max_subscriptions", so.MaxSubscriptions}} {
		if l.value < 0 {
			return nil, fmt.Errorf("invalid --%s %d: must not be negative", l.name, l.value)
		}
	}
	if err := o.checkLogging(); err != nil {
		return nil, err
	}
	if err := cf.apply(&o.cfg, set); err != nil {
		return nil, err
	}
	if o.cfg.StoreCacheSize < 0 {
		return nil, fmt.Errorf("invalid --store_cache %d: must not be negative", o.cfg.StoreCacheSize)
	}
	if m := o.cfg.StoreMemTableSize; m != 0 && (m < 1<<20 || m > 4<<30) {
		// Pebble's bounds: a memtable of 1 MiB to 4 GiB.
		return nil, fmt.Errorf("invalid --store_memtable %d: use 1048576 to 4294967296 bytes", m)
	}
	switch {
	case !syncSet && o.file != nil:
		// the file's, if it has one; else the daemon's default
	case strings.EqualFold(sync, "always"):
		o.cfg.SyncAlways = true
	default:
		d, err := time.ParseDuration(sync)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("invalid --sync_interval %q: use a duration such as 2m or 'always'", sync)
		}
		o.cfg.SyncInterval, o.cfg.SyncAlways = d, false
	}
	return o, nil
}

func setIfEmpty(dst *string, s string) {
	if *dst == "" {
		*dst = s
	}
}

func strVar(fs *flag.FlagSet, p *string, def string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, def, "")
	}
}

func intVar(fs *flag.FlagSet, p *int, def int, names ...string) {
	for _, n := range names {
		fs.IntVar(p, n, def, "")
	}
}

func boolVar(fs *flag.FlagSet, p *bool, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, false, "")
	}
}
