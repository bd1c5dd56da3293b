package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfig: loading any file gives a config or an error, never a
// panic, and never both.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"port: 4222", "listen: \"0.0.0.0:4222\"", "max_payload: 1MB", "jetstream { max_mem: 1G, sync: always }",
		"authorization { users: [ { user: a, password: b, permissions: { publish: { deny: \">\" } } } ] }",
		"accounts { A { users: [ { user: a } ], jetstream: { max_mem: \"1K\" } } }", "tls { timeout: 2 }",
		"cluster { routes: [a, b], authorization { token: x } }", "X: 1\nport: $X", "include \"nothere.conf\"",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "fuzz.conf")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
	})
}
