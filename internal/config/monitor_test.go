package config

import (
	"testing"

	"github.com/cairn-db/cairn/internal/daemon"
)

// TestMonitorApply: http_port and monitor_port set the monitoring port;
// http: "host:port" its host too.
func TestMonitorApply(t *testing.T) {
	for _, c := range []struct {
		conf string
		host string
		port int
	}{
		{"http_port: 8222", "", 8222},
		{"monitor_port: -1", "", -1},
		{`http: "0.0.0.0:8300"`, "0.0.0.0", 8300},
		{"http: 8301", "", 8301},
	} {
		f, err := load(t, c.conf, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.conf, err)
		}
		var dc daemon.Config
		f.Apply(&dc)
		if dc.HTTPHost != c.host || dc.HTTPPort != c.port {
			t.Errorf("%s: host %q port %d, want %q %d", c.conf, dc.HTTPHost, dc.HTTPPort, c.host, c.port)
		}
	}
}
