package cluster

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves a line echo on a loopback port until the test ends.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

// TestProxyCutRefuseHeal: a proxied connection works, a cut closes it, a
// refusing proxy closes new ones at once, and healing lets them through.
func TestProxyCutRefuseHeal(t *testing.T) {
	p, err := startProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	addr := p.ln.Addr().String()
	if err := roundTrip(addr); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(held).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Nodes: []*Node{{Name: "n1"}, {Name: "n2"}}, proxies: [][]*Proxy{{nil, p}, {nil, nil}}}
	p2, err := startProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p2.close()
	c.proxies[1][0] = p2
	// The round trip's connection may not be closed yet: 1 or 2.
	if n, err := c.Partition([]int{0, 1}); err != nil || n < 1 {
		t.Fatalf("Partition: cut %d pairs (%v), want at least 1", n, err)
	}
	_ = held.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("a cut connection still reads")
	}
	if err := roundTrip(addr); err == nil {
		t.Fatal("a refusing proxy carried a connection")
	}
	c.Heal()
	if err := roundTrip(addr); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}
