package testgit

import (
	"io"
	"net"
	"net/url"
	"sync"
)

// Proxy forwards TCP from a fixed loopback port to a server, and can be taken
// down (connections refused, open ones cut) and brought back on the same
// port: a Git server outage as the client sees it.
type Proxy struct {
	t      T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// cutAfter, when positive, cuts each connection once that many bytes
	// went from the server to the client: a server killed mid-transfer.
	cutAfter int64
}

// CutAfter makes every connection die after n bytes of response; 0 turns
// it off. Open connections (a client's keep-alive pool) are closed, so the
// next request opens one that obeys.
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutAfter = n
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// NewProxy starts a proxy to the host:port of serverURL.
func NewProxy(t T, serverURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, target: u.Host, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Down)
	return p
}

// URL rewrites serverURL (an address of the proxied server) to go through the proxy.
func (p *Proxy) URL(serverURL string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		p.t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

// Down refuses new connections and cuts open ones.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Up listens again on the same port.
func (p *Proxy) Up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy up on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	cut := p.cutAfter
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst net.Conn, src io.Reader) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	var response io.Reader = server
	if cut > 0 {
		response = io.LimitReader(server, cut)
	}
	go pipe(server, client)
	go pipe(client, response)
	<-done
	client.Close()
	server.Close()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
