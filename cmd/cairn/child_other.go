//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing outside Linux: there a command may outlive a
// cairn process that is killed with SIGKILL.
func setDeathSignal(*exec.Cmd) {}
