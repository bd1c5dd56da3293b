package hostile

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testcert"
)

// tlsTarget is a cairn daemon requiring TLS with a client certificate,
// and the client side's configuration: trusted roots and a certificate
// the server accepts.
type tlsTarget struct {
	*target
	client *tls.Config
}

func startTLS(t *testing.T, timeout time.Duration) *tlsTarget {
	t.Helper()
	caCert, caKey := testcert.New(t, "ca", nil, nil, true)
	srvCert := testcert.TLSCertificate(testcert.New(t, "server", caCert, caKey, false))
	cliCert := testcert.TLSCertificate(testcert.New(t, "client", caCert, caKey, false))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	var cfg daemon.Config
	cfg.Server.TLSConfig = &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	cfg.Server.TLSTimeout = timeout
	return &tlsTarget{
		target: startWith(t, cfg),
		client: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cliCert}, ServerName: "127.0.0.1"},
	}
}

// tlsWatcher subscribes to everything over TLS with the good certificate.
func (tt *tlsTarget) watcher(t *testing.T) *nats.Subscription {
	t.Helper()
	nc := connect(t, tt.URL, nats.Secure(tt.client))
	sub, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestTLSPlainTextRefused: a client that ignores tls_required and speaks
// plain text (CONNECT, then a publish) is told so and closed, and its
// publish reaches no one.
func TestTLSPlainTextRefused(t *testing.T) {
	tt := startTLS(t, 2*time.Second)
	sub := tt.watcher(t)
	conn, err := net.Dial("tcp", tt.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, `"tls_required":true`) {
		t.Fatalf("INFO %q, %v", line, err)
	}
	_, _ = conn.Write([]byte("CONNECT {\"verbose\":false}\r\nPUB evil 4\r\nevil\r\nPING\r\n"))
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if string(rest) != "-ERR 'Secure Connection - TLS Required'\r\n" {
		t.Errorf("got %q", rest)
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("plain-text publish delivered: %q", m.Subject)
	}
}

// TestTLSStalledHandshakes: many clients that stall the handshake (silent
// after INFO, half a record, a handshake without a client certificate)
// are all closed within the TLS timeout, and meanwhile a good client
// connects and works: a handshake never holds up the accept loop.
func TestTLSStalledHandshakes(t *testing.T) {
	const timeout = 500 * time.Millisecond
	tt := startTLS(t, timeout)
	attacks := []string{"", "\x16\x03\x01\x02\x00", "\x16\x03\x03\x00\x05hello", strings.Repeat("\x00", 4096)}
	const per = 25
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan string, per*len(attacks)+per)
	for i := 0; i < per; i++ {
		for _, a := range attacks {
			wg.Add(1)
			go func(send string) {
				defer wg.Done()
				conn, err := net.Dial("tcp", tt.Addr)
				if err != nil {
					errs <- err.Error()
					return
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if send != "" {
					_, _ = conn.Write([]byte(send))
				}
				// EOF or a reset (unread bytes at the close) both
				// mean closed; only the 5s deadline is a failure.
				var ne net.Error
				if _, err := io.ReadAll(conn); errors.As(err, &ne) && ne.Timeout() {
					errs <- "not closed: " + err.Error()
				}
			}(a)
		}
		// A client without a certificate completes its side of the
		// handshake but never gets in.
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := nats.Connect(tt.URL, nats.Secure(&tls.Config{RootCAs: tt.client.RootCAs, ServerName: "127.0.0.1"}), nats.NoReconnect(), nats.Timeout(5*time.Second))
			if err == nil {
				err = nc.Flush()
				nc.Close()
				if err == nil {
					errs <- "a client without a certificate got in"
				}
			}
		}()
	}
	// The good client is served while the attack is under way.
	nc := connect(t, tt.URL, nats.Secure(tt.client))
	if _, err := nc.Request("nobody", nil, 2*time.Second); err != nats.ErrNoResponders {
		t.Errorf("good client during the attack: %v", err)
	}
	if d := time.Since(start); d > timeout*3 {
		t.Errorf("good client served after %v", d)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("attackers closed after %v, TLS timeout %v", d, timeout)
	}
}
