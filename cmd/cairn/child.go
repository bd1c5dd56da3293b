package main

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
)

// startChild starts cmd so that, on Linux, the kernel kills it if cairn
// dies (even by SIGKILL): a command that holds a lock must not outlive the
// process that keeps the lock alive. The returned channel yields the result
// of cmd.Wait.
func startChild(cmd *exec.Cmd) (<-chan error, error) {
	setDeathSignal(cmd)
	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		// The death signal fires when the thread that started the child
		// exits, not the process: keep this goroutine on its thread until
		// the child is gone. The thread is discarded when the goroutine
		// returns still locked.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, commandStartError(cmd, err)
	}
	return done, nil
}

// commandStartError explains why a command could not be run; the status
// 127 is the shell's for a command that cannot be found.
func commandStartError(cmd *exec.Cmd, err error) error {
	return &exitError{code: 127, kind: "command_not_found", msg: fmt.Sprintf("cannot run %q: %v", cmd.Args[0], unwrapExecError(err))}
}

func unwrapExecError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return unwrapPathError(err)
}

// exitStatus returns the shell-style status of a finished command: its exit
// code, or 128 plus the signal that killed it.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
