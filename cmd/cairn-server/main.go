// Command cairn-server runs the Cairn key/value server.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var cerr *configError
	if errors.As(err, &cerr) {
		fmt.Fprintln(stderr, "cairn-server:", err)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "cairn-server:", err)
		return 2
	}
	if o.signal != "" {
		return sendSignal(o, stderr) // signal.go
	}
	if o.checkConfig {
		// As nats-server -t: "configuration file X is valid (digest)".
		for _, w := range o.file.Warnings {
			fmt.Fprintln(stderr, "cairn-server: warning:", w)
		}
		fmt.Fprintf(stderr, "cairn-server: configuration file %s is valid (%s)\n", o.configFile, o.file.Digest)
		return 0
	}
	if o.version {
		fmt.Fprintf(stderr, "cairn-server v%s (nats-server protocol compatible with v%s, %s)\n", server.Version, server.CompatVersion, runtime.Version())
		return 0
	}
	log, err := server.OpenLogger(o.logConfig(), stderr)
	if err != nil {
		fmt.Fprintln(stderr, "cairn-server:", err)
		return 1
	}
	defer log.Close()
	o.cfg.Server.Logger = log
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			fmt.Fprintln(stderr, "cairn-server: cannot write pid file:", err)
			return 1
		}
		defer os.Remove(o.pidFile)
	}
	if o.file != nil {
		if err := refuseUnenforced(o.file); err != nil {
			log.Errorf("%v", err)
			fmt.Fprintln(stderr, "cairn-server:", err)
			return 1
		}
	}
	log.Noticef("Starting cairn-server")
	log.Noticef("  Version:  %s (protocol compatible with nats-server %s)", server.Version, server.CompatVersion)
	log.Noticef("  Go:       %s", runtime.Version())
	if !o.cfg.DisableKV {
		log.Noticef("  Storage:  %s", o.cfg.StoreDir)
	}
	if o.file != nil {
		log.Noticef("  Config:   %s", o.file.File)
		for _, w := range fileWarnings(o.file) {
			log.Warnf("%s", w)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	d, err := daemon.Start(o.cfg)
	if err != nil {
		log.Errorf("%v", err)
		fmt.Fprintln(stderr, "cairn-server:", err)
		return 1
	}
	log.Noticef("Client URL: %s", d.ClientURL())
	serve(d, args, o, sigs, log)
	d.Shutdown()
	return 0
}

// serve handles signals until one stops the server, as nats-server:
// SIGHUP reloads the config file, SIGUSR1 reopens the log file, SIGUSR2
// enters lame duck mode (which ends, once its clients are closed, in the
// same clean stop as SIGTERM), SIGINT and SIGTERM stop, except that
// SIGTERM is ignored during lame duck mode, which is already stopping.
func serve(d *daemon.Daemon, args []string, o *options, sigs <-chan os.Signal, log *server.Logger) {
	var ldmDone chan struct{} // closed when lame duck mode has ended
	for {
		select {
		case <-ldmDone:
			return
		case sig := <-sigs:
			log.Noticef("Trapped %q signal", sig)
			switch sig {
			case syscall.SIGHUP:
				o = reload(args, o, d, log) // reload.go
			case syscall.SIGUSR1:
				_ = log.Reopen() // logged
			case syscall.SIGUSR2:
				if ldmDone == nil {
					ldmDone = make(chan struct{})
					go func(ld config.LameDuck) {
						defer close(ldmDone)
						d.Server().LameDuck(ld.Duration, ld.GracePeriod)
					}(o.lameDuck)
				}
			case syscall.SIGTERM:
				if ldmDone == nil {
					return
				}
			default:
				return
			}
		}
	}
}
