package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// NATS contexts: the connection settings that natscli keeps, one JSON
// file per context in $XDG_CONFIG_HOME/nats/context/NAME.json (else
// ~/.config/nats/context/NAME.json), with the selected context's name in
// context.txt beside that folder ("nats context select NAME"). cairn
// reads the same files, so one "nats context add" serves both tools.
//
// A setting given by a flag or by the environment wins over the
// context's, as in natscli.

// natsContext holds the fields of a context file that cairn uses; the
// others (nsc, JetStream domain and prefixes, colours, Windows
// certificate stores) are ignored.
type natsContext struct {
	URL      string `json:"url"`
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
	TLSFirst bool   `json:"tls_first"`
}

// natsConfigDir returns natscli's configuration folder.
func natsConfigDir(getenv func(string) string) (string, error) {
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "nats"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("neither $XDG_CONFIG_HOME nor $HOME is set")
	}
	return filepath.Join(home, ".config", "nats"), nil
}

// validContextName rejects names that would leave the context folder.
func validContextName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`)
}

// loadContext reads the context called name or, if name is empty, the
// selected one; it returns nil when name is empty and none is selected.
func loadContext(name string, getenv func(string) string) (*natsContext, error) {
	dir, err := natsConfigDir(getenv)
	if err != nil {
		if name == "" {
			return nil, nil
		}
		return nil, usageErrorf("--context %s: %v", name, err)
	}
	explicit := name != ""
	if !explicit {
		b, err := os.ReadFile(filepath.Join(dir, "context.txt"))
		if err != nil {
			return nil, nil // no context selected
		}
		if name = strings.TrimSpace(string(b)); name == "" {
			return nil, nil
		}
	}
	if !validContextName(name) {
		return nil, usageErrorf("invalid context name %q", name)
	}
	path := filepath.Join(dir, "context", name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		how := "selected in " + filepath.Join(dir, "context.txt")
		if explicit {
			how = "given with --context"
		}
		return nil, usageErrorf("context %q (%s) cannot be read: %v", name, how, unwrapPathError(err))
	}
	var c natsContext
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, usageErrorf("context %q: %s is not valid JSON: %v", name, path, err)
	}
	for _, p := range []*string{&c.Creds, &c.NKey, &c.Cert, &c.Key, &c.CA} {
		*p = expandPath(*p, getenv)
	}
	return &c, nil
}

// expandPath expands $VARIABLES and a leading ~ in a path from a context
// file, as natscli does.
func expandPath(p string, getenv func(string) string) string {
	p = os.Expand(p, getenv)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home := getenv("HOME"); home != "" {
			p = home + p[1:]
		}
	}
	return p
}

// applyContext fills every connection setting that neither a flag nor
// the environment gave from the context.
func (o *connOptions) applyContext(c *natsContext, serverSet bool) {
	if !serverSet && c.URL != "" {
		o.server = c.URL
	}
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&o.user, c.User}, {&o.password, c.Password}, {&o.token, c.Token}, {&o.creds, c.Creds},
		{&o.nkey, c.NKey}, {&o.tlsCert, c.Cert}, {&o.tlsKey, c.Key}, {&o.tlsCA, c.CA},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	o.tlsFirst = o.tlsFirst || c.TLSFirst
}
