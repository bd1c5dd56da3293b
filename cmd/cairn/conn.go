package main

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// defaultURL is used when neither --server nor the environment names one.
const defaultURL = "nats://127.0.0.1:4222"

// connOptions are the global connection flags.
type connOptions struct {
	server, user, password, token string
	creds, nkey                   string
	tlsCert, tlsKey, tlsCA        string
	tlsFirst                      bool
	timeout                       time.Duration
	context                       string

	// denied is the last permission violation the server reported on
	// the connection (asynchronously, as -ERR): a request it refused
	// otherwise looks like a timeout.
	denied atomic.Pointer[string]

	// serverSet reports that --server, $CAIRN_URL or $NATS_URL named the
	// server, which a context's URL then does not replace.
	serverSet func() bool
	getenv    func(string) string
}

func (o *connOptions) register(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVarP(&o.server, "server", "s", firstNonEmpty(getenv("CAIRN_URL"), getenv("NATS_URL"), defaultURL),
		"server URL, or comma-separated URLs; from $CAIRN_URL, else $NATS_URL, else "+defaultURL)
	fs.StringVar(&o.user, "user", getenv("CAIRN_USER"), "user name ($CAIRN_USER)")
	fs.StringVar(&o.password, "password", getenv("CAIRN_PASSWORD"), "password ($CAIRN_PASSWORD)")
	fs.StringVar(&o.token, "token", getenv("CAIRN_TOKEN"), "authentication token ($CAIRN_TOKEN)")
	fs.StringVar(&o.creds, "creds", "", "user credentials file (JWT and nkey seed)")
	fs.StringVar(&o.nkey, "nkey", "", "file holding the user's nkey seed, for servers with nkey users")
	fs.StringVar(&o.context, "context", getenv("NATS_CONTEXT"), "natscli context to take connection settings from (default: the one \"nats context select\" chose; $NATS_CONTEXT)")
	fs.StringVar(&o.tlsCert, "tlscert", "", "TLS client certificate file (with --tlskey)")
	fs.StringVar(&o.tlsKey, "tlskey", "", "TLS client private key file (with --tlscert)")
	fs.StringVar(&o.tlsCA, "tlsca", "", "file of CA certificates to verify the server with")
	fs.BoolVar(&o.tlsFirst, "tlsfirst", false, "start TLS before the server's INFO (server option handshake_first)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "how long to wait for the server to connect and to answer each request")
	o.getenv = getenv
	o.serverSet = func() bool {
		return fs.Changed("server") || getenv("CAIRN_URL") != "" || getenv("NATS_URL") != ""
	}
}

// check validates the flags before anything is sent.
func (o *connOptions) check() error {
	c, err := loadContext(o.context, o.getenv)
	if err != nil {
		return err
	}
	if c != nil {
		o.applyContext(c, o.serverSet())
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout must be positive, got %s", o.timeout)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageErrorf("--tlscert and --tlskey go together: give both or neither")
	}
	if o.creds != "" && o.nkey != "" {
		return usageErrorf("--creds and --nkey are two ways to authenticate: give one")
	}
	for _, f := range []struct{ flag, path string }{{"tlscert", o.tlsCert}, {"tlskey", o.tlsKey}, {"tlsca", o.tlsCA}, {"creds", o.creds}, {"nkey", o.nkey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return usageErrorf("--%s: cannot read %s: %v", f.flag, f.path, unwrapPathError(err))
		}
	}
	return nil
}

// dial connects to the server.
func (o *connOptions) dial() (*nats.Conn, error) {
	opts := []nats.Option{nats.Name("cairn"), nats.Timeout(o.timeout),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				msg := err.Error()
				o.denied.Store(&msg)
			}
		})}
	if o.user != "" || o.password != "" {
		opts = append(opts, nats.UserInfo(o.user, o.password))
	}
	if o.token != "" {
		opts = append(opts, nats.Token(o.token))
	}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	if o.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.nkey)
		if err != nil {
			return nil, usageErrorf("--nkey %s: %v", o.nkey, err)
		}
		opts = append(opts, opt)
	}
	if o.tlsCert != "" {
		opts = append(opts, nats.ClientCert(o.tlsCert, o.tlsKey))
	}
	if o.tlsCA != "" {
		opts = append(opts, nats.RootCAs(o.tlsCA))
	}
	if o.tlsFirst {
		opts = append(opts, nats.TLSHandshakeFirst())
	}
	nc, err := nats.Connect(o.server, opts...)
	if err != nil {
		return nil, &connectError{url: o.server, err: err}
	}
	return nc, nil
}

// connectError is a failure to connect to url.
type connectError struct {
	url string
	err error
}

func (e *connectError) Error() string { return fmt.Sprintf("connect to %s: %v", e.url, e.err) }
func (e *connectError) Unwrap() error { return e.err }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// unwrapPathError drops the path and operation from an *os.PathError, for
// messages that already name the file.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
