package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/cairn-db/cairn/internal/config"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// clusterFlags are nats-server's cluster flags, applied over the
// config file's cluster block when given.
type clusterFlags struct {
	listen, name, routes string
	advertise, clientAdv string
	noAdvertise          bool
}

func (cf *clusterFlags) define(fs *flag.FlagSet) {
	strVar(fs, &cf.listen, "", "cluster", "cluster_listen")
	strVar(fs, &cf.name, "", "cluster_name")
	strVar(fs, &cf.routes, "", "routes")
	strVar(fs, &cf.advertise, "", "cluster_advertise")
	strVar(fs, &cf.clientAdv, "", "client_advertise")
	boolVar(fs, &cf.noAdvertise, "no_advertise")
}

// apply sets dc.Cluster from the flags given (set), over the file's.
// As nats-server: --cluster "" turns clustering off, --routes without a
// route listener is an error, and the listener URL's user info becomes
// the route credentials.
func (cf *clusterFlags) apply(dc *daemon.Config, set map[string]bool) error {
	if set["cluster"] || set["cluster_listen"] {
		if cf.listen == "" {
			dc.Cluster = nil
		} else {
			cc := &daemon.ClusterConfig{}
			if dc.Cluster != nil {
				copied := *dc.Cluster
				cc = &copied
			}
			if err := parseClusterListen(cf.listen, cc); err != nil {
				return err
			}
			dc.Cluster = cc
		}
	}
	cc := dc.Cluster
	if set["routes"] && cf.routes != "" {
		if cc == nil {
			return errors.New("solicited routes require cluster capabilities, e.g. --cluster")
		}
		cc.Routes = nil
		for _, r := range strings.Split(cf.routes, ",") {
			u, err := config.ParseRouteURL(r)
			if err != nil {
				return err
			}
			cc.Routes = append(cc.Routes, u)
		}
	}
	if cc == nil {
		return nil // nats-server accepts the others without a cluster
	}
	if set["cluster_name"] {
		cc.Name = cf.name
	}
	if set["cluster_advertise"] {
		cc.Advertise = cf.advertise
	}
	if set["client_advertise"] {
		cc.ClientAdvertise = cf.clientAdv
	}
	if set["no_advertise"] {
		cc.NoAdvertise = cf.noAdvertise
	}
	if a := cc.ClientAdvertise; a != "" {
		if _, _, err := server.ParseClientAdvertise(a, 4222); err != nil {
			return fmt.Errorf("Error setting server INFO with ClientAdvertise value of %s, err=%v", a, err) // nats-server's start-up text
		}
	}
	return nil
}

// parseClusterListen reads --cluster nats://[user:pass@]host:port into
// cc, with the errors nats-server gives for the same input (those of
// net/url and net.SplitHostPort).
func parseClusterListen(s string, cc *daemon.ClusterConfig) error {
	random := strings.HasSuffix(s, ":-1")
	if random {
		s = strings.TrimSuffix(s, ":-1") + ":0"
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return errors.New("invalid --cluster port " + strconv.Quote(port))
	}
	if random {
		p = -1
	}
	cc.Host, cc.Port = host, p
	cc.User, cc.Password = "", ""
	if u.User != nil {
		pass, ok := u.User.Password()
		if !ok {
			return errors.New("expected cluster password to be set")
		}
		cc.User, cc.Password = u.User.Username(), pass
	}
	return nil
}
