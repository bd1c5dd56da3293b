// Package config reads nats-server's configuration file into a typed,
// validated Config.
//
// It is for cairn-server's -c/--config and -t: a team points Cairn at the
// nats-server.conf it already has. The syntax (includes, variables,
// environment references, size suffixes) is parsed by the standalone conf
// package of the nats-server module, in its ParseFileWithChecks mode,
// whose values carry the file and line they came from; this package
// decides what each key means for Cairn. It is the only package of
// Cairn that imports anything of nats-server.
//
// # Data model
//
// Load returns a *Config: plain fields for the server and storage keys
// (Host, Port, MaxPayload, JetStream, …), typed blocks for security
// (Authorization with Users and Permissions, Accounts, TLS) and for the
// cluster, and Warnings. Every key is checked against nats-server's
// accepted types and aliases (server/opts.go), so a file means the same
// to both servers. Three outcomes per key:
//
//   - supported: stored, or an *Error "file:line: key: reason";
//   - unsupported: a Warnings entry "file:line: key: not supported by
//     Cairn, ignored", logged at start;
//   - an unsupported security key (operator, resolver, auth_callout,
//     account exports, …): an *Error, because running with less
//     protection than configured is never an option.
//
// A zero field means the key was absent (or set to its default). Apply
// copies the fields that are set onto a daemon.Config, leaving the rest
// alone; cmd/cairn-server then parses the command line again on top, so
// a flag given explicitly beats the file, as in nats-server.
//
// # Example
//
// With cairn.conf holding
//
//	PORT: 4333
//	port: $PORT
//	max_payload: 2MB
//	jetstream { store_dir: /var/lib/cairn, sync_interval: always }
//	max_traced_msg_len: 512
//
// Load("cairn.conf") returns Port 4333 (PORT, a variable used elsewhere,
// is not a key of its own), MaxPayload 2097152,
// JetStream{Enabled: true, StoreDir: "/var/lib/cairn", SyncAlways: true}
// and one warning, "cairn.conf:5: max_traced_msg_len: not supported by
// Cairn, ignored". Changing the third line to "max_payload: big" makes
// Load return nil and the error
// `cairn.conf:3: max_payload: expected a size, got "big"` (with
// the path as given to Load).
package config
