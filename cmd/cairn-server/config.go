package main

import (
	"fmt"
	"strings"

	"github.com/cairn-db/cairn/internal/config"
)

// refuseUnenforced refuses to start with security settings this build
// parses but does not enforce yet: running them open would be less
// protection than configured. -t still accepts them (the file is valid).
// Each block leaves this list as it is wired: users, passwords, tokens,
// nkeys, no_auth_user and permissions already have (internal/auth).
func refuseUnenforced(f *config.Config) error {
	var blocks []string
	if a := f.Authorization; a != nil {
		// Users, passwords, tokens, nkeys, the timeout, publish and
		// subscribe permissions and allow_responses are enforced
		// (internal/auth, internal/server/perms.go).
		// default_permissions apply to the users list only (as in
		// nats-server); with a single user or a token nothing would
		// enforce them.
		if a.DefaultPermissions != nil && len(a.Users) == 0 {
			blocks = append(blocks, "authorization.default_permissions without a users list")
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s: not enforced by this build yet; refusing to run with less protection than configured", f.File, strings.Join(blocks, ", "))
}

// fileWarnings are the file's own warnings and those for keys parsed but
// not acted upon yet.
func fileWarnings(f *config.Config) []string {
	return append([]string(nil), f.Warnings...)
}
