// Package daemon assembles a complete Cairn server from its parts: the
// core NATS server (package server), the storage engine (package store)
// and the JetStream/KV API (package jsapi). cmd/cairn-server turns flags
// into a Config and calls Start; tests start a Daemon in-process on a free
// loopback port the same way:
//
//	d, err := daemon.Start(daemon.Config{Port: -1, StoreDir: t.TempDir()})
//	if err != nil { ... }
//	defer d.Shutdown()
//	nc, _ := nats.Connect(d.ClientURL())
package daemon
