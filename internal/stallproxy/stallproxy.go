// Package stallproxy gives tests a TCP proxy on loopback that can stall:
// while stalled it keeps every connection open but moves no byte either
// way, as a network partition or a frozen server does (nothing is refused
// or reset, so only a deadline notices). It is only imported by tests.
package stallproxy

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards each connection made to Addr to the target.
type Proxy struct {
	ln              net.Listener
	network, target string

	mu      sync.Mutex
	stalled chan struct{} // open while stalled; closed by Resume
	conns   []net.Conn
	closed  bool
}

// Start forwards connections from a free loopback port to target on
// network ("tcp", or "unix" for a socket path). It stops when the test
// ends.
func Start(t testing.TB, network, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, network: network, target: target}
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops moving bytes on every connection, old and new.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled == nil {
		p.stalled = make(chan struct{})
	}
}

// Resume moves bytes again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled != nil {
		close(p.stalled)
		p.stalled = nil
	}
}

// wait returns once the proxy is not stalled.
func (p *Proxy) wait() {
	p.mu.Lock()
	ch := p.stalled
	p.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.wait()
	up, err := net.Dial(p.network, p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	go p.pipe(up, c)
	p.pipe(c, up)
}

// track records the pair for close, or closes it if the proxy has.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, conns...)
	return true
}

// pipe copies from src to dst, waiting before each read and each write
// while the proxy is stalled, so that a stall leaves the bytes in the
// kernels' buffers and the senders' writes block once those are full.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		p.wait()
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.Resume()
	for _, c := range conns {
		c.Close()
	}
}
