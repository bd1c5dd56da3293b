package config

import (
	"net/url"
	"strings"

	"github.com/cairn-db/cairn/internal/daemon"
)

// parseRoutes reads cluster.routes: a list of route URLs. As
// nats-server, a URL that does not parse is an error with its words
// ("error parsing route url [...]"), a repeated one a warning, and the
// scheme is not checked (only host:port is dialed).
func parseRoutes(k string, v value, warn func(string)) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, e := range v.list() {
		s, err := e.str(k)
		if err != nil {
			return nil, err
		}
		if seen[s] {
			warn(e.warnf(k, "Duplicate route entry detected"))
			continue
		}
		seen[s] = true
		if _, err := ParseRouteURL(s); err != nil {
			return nil, e.errorf(k, "%v", err)
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, nil
}

// ParseRouteURL parses one route URL of cluster.routes or --routes,
// with nats-server's error text. The URL needs a host and port to be
// dialed: one without is refused here, where nats-server would retry it
// for ever.
func ParseRouteURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Port() == "" {
		return nil, &routeURLError{s}
	}
	return u, nil
}

type routeURLError struct{ url string }

func (e *routeURLError) Error() string { return "error parsing route url [" + quote(e.url) + "]" }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// applyCluster sets dc.Cluster from the cluster block and the top-level
// client_advertise. A block without a listen port (nats-server's
// cluster disabled) leaves dc.Cluster alone.
func (c *Config) applyCluster(dc *daemon.Config) {
	cl := c.Cluster
	if cl == nil || cl.Port == 0 {
		return
	}
	cc := &daemon.ClusterConfig{
		Name: cl.Name, Host: cl.Host, Port: cl.Port,
		Advertise: cl.Advertise, NoAdvertise: cl.NoAdvertise,
		ClientAdvertise: c.ClientAdvertise,
	}
	for _, r := range cl.Routes {
		u, _ := ParseRouteURL(r) // validated by Load
		cc.Routes = append(cc.Routes, u)
	}
	if a := cl.Authorization; a != nil {
		cc.User, cc.Password, cc.AuthTimeout = a.User, a.Password, a.Timeout
	}
	if t := cl.TLS; t != nil && t.config != nil {
		// One configuration serves both ends of a route: the CA that
		// verifies peers that dial in also verifies the peers dialed.
		tc := t.config.Clone()
		tc.RootCAs = tc.ClientCAs
		cc.TLS = tc
	}
	dc.Cluster = cc
}
