package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/cairn-db/cairn/internal/config"
)

// --signal <command>[=<pid>], as nats-server's (server/signal.go
// ProcessSignal): send a signal to a running server and exit, 0 when it
// was sent. <pid> is a process id or a pid file. Without it, nats-server
// signals the one nats-server process running (pgrep); cairn-server
// first tries the pid file named by -P/--pid or by the config file's
// pid_file (-c), then does the same.

// signalCommands are the commands cairn-server handles, with
// nats-server's signals.
var signalCommands = map[string]syscall.Signal{
	"reload": syscall.SIGHUP,
	"reopen": syscall.SIGUSR1,
	"ldm":    syscall.SIGUSR2,
	"quit":   syscall.SIGINT,
	"term":   syscall.SIGTERM,
	"stop":   syscall.SIGKILL,
}

// processName is what pgrep looks for.
const processName = "cairn-server"

// sendSignal runs --signal and returns the exit status.
func sendSignal(o *options, stderr io.Writer) int {
	pid, sig, err := signalTarget(o)
	if err == nil {
		if err = syscall.Kill(pid, sig); err != nil {
			err = fmt.Errorf("signal %q %d: %w", strings.SplitN(o.signal, "=", 2)[0], pid, err)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "cairn-server:", err)
		return 1
	}
	return 0
}

// signalTarget parses --signal and finds the process to signal.
func signalTarget(o *options) (int, syscall.Signal, error) {
	parts := strings.Split(o.signal, "=")
	if len(parts) > 2 {
		return 0, 0, fmt.Errorf("invalid signal parameters: %v", parts[2:])
	}
	sig, ok := signalCommands[parts[0]]
	if !ok {
		return 0, 0, fmt.Errorf("unknown signal %q (use reload, reopen, ldm, quit, term or stop)", parts[0])
	}
	if len(parts) == 2 {
		pid, err := pidOf(parts[1])
		return pid, sig, err
	}
	pidFile := o.pidFile
	if pidFile == "" && o.configFile != "" {
		f, err := config.Load(o.configFile)
		if err != nil {
			return 0, 0, err
		}
		pidFile = f.Logging.PidFile
	}
	if pidFile != "" {
		pid, err := readPidFile(pidFile)
		return pid, sig, err
	}
	pid, err := onlyProcess()
	return pid, sig, err
}

// pidOf reads a --signal target: a pid file if one exists at that
// path, else a process id.
func pidOf(s string) (int, error) {
	if _, err := os.Stat(s); err == nil {
		return readPidFile(s)
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("invalid pid: %s", s)
	}
	return pid, nil
}

func readPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("cannot read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s holds no process id: %q", path, b)
	}
	return pid, nil
}

// onlyProcess returns the pid of the one cairn-server process running
// other than this one, as nats-server resolves its own.
func onlyProcess() (int, error) {
	out, err := exec.Command("pgrep", "-x", processName).Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, errors.New("unable to resolve pid, try providing one")
	}
	var pids []string
	for _, f := range strings.Fields(string(out)) {
		if f != strconv.Itoa(os.Getpid()) {
			pids = append(pids, f)
		}
	}
	switch len(pids) {
	case 0:
		return 0, fmt.Errorf("no %s processes running", processName)
	case 1:
		return strconv.Atoi(pids[0])
	}
	return 0, fmt.Errorf("multiple %s processes running:\n%s", processName, strings.Join(pids, "\n"))
}
