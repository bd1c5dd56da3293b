package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvsync"
)

// usageError is a mistake on the command line; cairn exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitError ends cairn with a given status. An empty msg prints nothing:
// used when a command run by cairn failed and has spoken for itself.
type exitError struct {
	code      int
	kind, msg string
}

func (e *exitError) Error() string { return e.msg }

// keyError records which bucket, key and revision a failed operation was
// about, so that the message can name them.
type keyError struct {
	bucket, key string
	revision    uint64 // the revision the user gave, 0 if none
	latest      uint64 // the key's latest revision when known, else 0
	err         error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// onKey wraps a non-nil err with the bucket and key it concerns.
func onKey(err error, bucket, key string) error {
	if err == nil {
		return nil
	}
	return &keyError{bucket: bucket, key: key, err: err}
}

// report prints err as one line on standard error (a JSON object with
// --json) and returns the exit status.
func (a *app) report(cmd *cobra.Command, err error) int {
	code := 1
	kind, msg := a.describe(err)
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case kind == "usage" || !a.started:
		kind, code = "usage", 2
		msg = fmt.Sprintf("%s (see \"%s --help\")", msg, cmd.CommandPath())
	}
	if msg == "" {
		return code
	}
	if a.json {
		line, _ := json.Marshal(struct {
			Error string `json:"error"`
			Kind  string `json:"kind"`
		}{msg, kind})
		fmt.Fprintf(a.stderr, "%s\n", line)
	} else {
		fmt.Fprintf(a.stderr, "cairn: %s\n", msg)
	}
	return code
}

// describe turns err into a kind (stable, for scripts) and a message that
// says what went wrong and what to do about it.
func (a *app) describe(err error) (kind, msg string) {
	var (
		ue *usageError
		ee *exitError
		ce *connectError
		ke keyError // zero value when err carries no key context
		pk *keyError
		le *kvsync.LockedError
		ae *jetstream.APIError
	)
	if errors.As(err, &pk) {
		ke = *pk
	}
	url := a.conn.server
	switch {
	case errors.As(err, &ue):
		return "usage", ue.msg
	case errors.As(err, &ee):
		return ee.kind, ee.msg
	case errors.As(err, &ce):
		return describeConnect(ce)
	case errors.As(err, &le):
		return "locked", lockedMessage(le) + ": try again later, or leave out --no-wait to wait for it"
	case errors.Is(err, kvsync.ErrNoTTL):
		return "no_ttl", fmt.Sprintf("bucket %q has no TTL, so a lock there would never be freed if its holder died: use a bucket with a TTL, made with \"cairn kv add BUCKET --ttl 30s\"", ke.bucket)
	case errors.Is(err, kvsync.ErrBadOptions):
		return "usage", strings.TrimPrefix(err.Error(), kvsync.ErrBadOptions.Error()+": ")
	case errors.Is(err, kvsync.ErrLockLost):
		return "lock_lost", strings.TrimPrefix(err.Error(), "kvsync: ")
	case errors.Is(err, kvsync.ErrTooManyConflicts):
		return "conflict", fmt.Sprintf("key %q in bucket %q kept changing under every attempt: retry later, or raise --max-attempts", ke.key, ke.bucket)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return "no_kv", fmt.Sprintf("the server at %s does not serve key/value buckets to this user's account: its operator must enable JetStream for the account (accounts { NAME: { jetstream: enabled } })", url)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return "no_kv", fmt.Sprintf("the server at %s does not serve key/value buckets (JetStream is off): start cairn-server without --no_kv, or nats-server with -js", url)
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return "bucket_not_found", fmt.Sprintf("bucket %q not found: list buckets with \"cairn kv ls\", or create it with \"cairn kv add %s\"", ke.bucket, ke.bucket)
	case errors.Is(err, jetstream.ErrBucketExists):
		return "bucket_exists", fmt.Sprintf("bucket %q already exists with a different configuration: change it with \"cairn kv edit %s\"", ke.bucket, ke.bucket)
	case errors.Is(err, jetstream.ErrBadBucket):
		return "bad_bucket", fmt.Sprintf("stream KV_%s exists but is not a key/value bucket", ke.bucket)
	case errors.Is(err, jetstream.ErrInvalidBucketName):
		return "invalid_bucket", fmt.Sprintf("invalid bucket name %q: use only letters, digits, \"-\" and \"_\"", ke.bucket)
	case errors.Is(err, jetstream.ErrInvalidKey):
		return "invalid_key", fmt.Sprintf("invalid key %q: use letters, digits and \"-/_=.\", not starting or ending with \".\" (\"*\" and \">\" only in patterns)", ke.key)
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		latest := ""
		if ke.latest != 0 {
			latest = fmt.Sprintf(" (it is %d)", ke.latest)
		}
		return "revision_mismatch", fmt.Sprintf("revision %d is not the latest revision of key %q in bucket %q%s: read it again with \"cairn kv get %s %s\" and retry with its revision",
			ke.revision, ke.key, ke.bucket, latest, ke.bucket, ke.key)
	case errors.Is(err, jetstream.ErrKeyExists):
		at, hint := "", "VALUE REVISION"
		if ke.latest != 0 {
			at, hint = fmt.Sprintf(" (revision %d)", ke.latest), fmt.Sprintf("VALUE %d", ke.latest)
		}
		return "key_exists", fmt.Sprintf("key %q already exists in bucket %q%s: change it with \"cairn kv update %s %s %s\", or wait until it is deleted",
			ke.key, ke.bucket, at, ke.bucket, ke.key, hint)
	case errors.Is(err, jetstream.ErrKeyNotFound):
		at := ""
		if ke.revision != 0 {
			at = fmt.Sprintf(" at revision %d", ke.revision)
		}
		return "key_not_found", fmt.Sprintf("key %q not found in bucket %q%s", ke.key, ke.bucket, at)
	case (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) && a.conn.denied.Load() != nil:
		// The request was refused, not lost: say so.
		return "permission", fmt.Sprintf("the server refused: %s: the user may not do this (its permissions are in the server's configuration)",
			strings.TrimPrefix(*a.conn.denied.Load(), "nats: permissions violation: "))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout", fmt.Sprintf("no answer from the server at %s within %s: check that it is healthy, or raise --timeout", url, a.conn.timeout)
	case errors.Is(err, context.Canceled):
		return "interrupted", "interrupted"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected):
		return "disconnected", fmt.Sprintf("lost the connection to %s: %v", url, err)
	case errors.As(err, &ae):
		return "server", fmt.Sprintf("the server refused: %s (code %d, err_code %d)", ae.Description, ae.Code, ae.ErrorCode)
	}
	return "error", err.Error()
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lockedMessage says who holds a lock.
func lockedMessage(le *kvsync.LockedError) string {
	holder := ""
	if le.Holder != nil {
		holder = fmt.Sprintf(" by %q (revision %d)", le.Holder, le.Revision)
	}
	return fmt.Sprintf("lock %q in bucket %q is held%s", le.Key, le.Bucket, holder)
}

// describeConnect explains a failure to connect.
func describeConnect(ce *connectError) (kind, msg string) {
	var (
		certErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(ce.err, nats.ErrNoServers), errors.Is(ce.err, syscall.ECONNREFUSED):
		return "no_server", fmt.Sprintf("cannot connect to %s: no server is listening there. Start one with \"cairn-server\", or point --server or $CAIRN_URL at a running server", ce.url)
	case errors.Is(ce.err, nats.ErrAuthorization), errors.Is(ce.err, nats.ErrAuthExpired):
		return "auth", fmt.Sprintf("the server at %s refused the credentials: check --user and --password, or --token", ce.url)
	case errors.As(ce.err, &certErr), errors.As(ce.err, &hostErr), errors.As(ce.err, &recErr),
		errors.Is(ce.err, nats.ErrSecureConnRequired), errors.Is(ce.err, nats.ErrSecureConnWanted):
		return "tls", fmt.Sprintf("TLS with %s failed: %v: check --tlsca, --tlscert and --tlskey, and whether the server uses TLS", ce.url, ce.err)
	case errors.Is(ce.err, nats.ErrTimeout), errors.Is(ce.err, context.DeadlineExceeded), isNetTimeout(ce.err):
		return "timeout", fmt.Sprintf("cannot connect to %s: no answer in time: check the address, or raise --timeout", ce.url)
	}
	return "connect", fmt.Sprintf("cannot connect to %s: %v", ce.url, ce.err)
}
