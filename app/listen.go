package app

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Connection limits. Every open connection costs a file descriptor, and a
// process out of descriptors can open neither its database nor a new SMTP
// connection, so the listener keeps the total below the limit and no one
// address may hold more than its share.
const (
	// fdHeadroom is kept free below RLIMIT_NOFILE for the database (a file,
	// its WAL and shared memory per pooled connection), SMTP connections,
	// the listener itself and the runtime.
	fdHeadroom = 64
	// maxConnsPerAddr is the most connections one client address may hold
	// open; more are closed as soon as they are accepted. 256 is far beyond
	// what browsers open (6 per host plus sockets) even behind a shared NAT,
	// and far below the descriptors one host could otherwise take.
	maxConnsPerAddr = 256
	// noLimitConns bounds the total when RLIMIT_NOFILE is unlimited or
	// unreadable: Fiber's own default concurrency.
	noLimitConns = 256 * 1024
	// acceptBackoffMin and acceptBackoffMax bound the wait after a failed
	// accept (out of descriptors): long enough not to spin, short enough to
	// pick up freed descriptors quickly.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// maxOpenConns is how many connections may be open at once under the
// process's RLIMIT_NOFILE. Go raises the soft limit to the hard limit at
// start (since Go 1.19, on every Unix), so the soft limit read here is
// already as high as this process may go.
func maxOpenConns() int {
	var lim syscall.Rlimit
	const infinity = ^uint64(0) // RLIM_INFINITY
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == infinity {
		return noLimitConns
	}
	return connsUnder(lim.Cur)
}

// connsUnder is the connection budget under a descriptor limit: the limit
// less fdHeadroom, but never less than half the limit, so a tiny limit
// still serves.
func connsUnder(fdLimit uint64) int {
	n := min(fdLimit, noLimitConns+fdHeadroom)
	if n > 2*fdHeadroom {
		return int(n - fdHeadroom)
	}
	return int(max(n/2, 1))
}

// limitListener is a net.Listener that survives running out of file
// descriptors and caps open connections, in total and per client address.
// Fiber's server gives up on the first accept error it does not consider
// a timeout, and EMFILE is not one: without this, a crowd of idle
// connections at the descriptor limit ended the whole process.
type limitListener struct {
	net.Listener
	log     *slog.Logger
	perAddr int
	exempt  []netip.Prefix // trusted proxies: every client comes through them
	slots   chan struct{}  // one per open connection; full means at the cap
	closed  chan struct{}
	once    sync.Once

	mu   sync.Mutex
	open map[netip.Addr]int
	// Warnings come at most once a second per kind, with how many
	// happened since the last one.
	warned map[string]*warning
}

type warning struct {
	last  time.Time
	count int
}

// newLimitListener wraps ln: at most maxOpen connections at once, at most
// perAddr from one address except the exempt ones.
func newLimitListener(ln net.Listener, log *slog.Logger, maxOpen, perAddr int, exempt []netip.Prefix) *limitListener {
	return &limitListener{
		Listener: ln,
		log:      log,
		perAddr:  perAddr,
		exempt:   exempt,
		slots:    make(chan struct{}, maxOpen),
		closed:   make(chan struct{}),
		open:     make(map[netip.Addr]int),
		warned:   make(map[string]*warning),
	}
}

// Accept waits for a free slot, then for a connection. Running out of
// descriptors (or any other temporary failure) is retried with backoff
// instead of being returned: the server would stop for good.
func (l *limitListener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		if err := l.takeSlot(); err != nil {
			return nil, err
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			if !temporary(err) {
				return nil, err
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			l.warn("accept failed, retrying", "err", err.Error(), "backoff", backoff.String())
			select {
			case <-time.After(backoff):
			case <-l.closed:
				return nil, net.ErrClosed
			}
			continue
		}
		backoff = 0
		addr := peerAddr(c)
		counted, ok := l.admit(addr)
		if !ok {
			c.Close()
			<-l.slots
			l.warn("connection refused: too many open connections from one address", "addr", addr.String(), "cap", l.perAddr)
			continue
		}
		return &limitedConn{Conn: c, l: l, addr: addr, counted: counted}, nil
	}
}

// takeSlot reserves room for one more connection, waiting (and saying so)
// while all are taken. New clients wait in the kernel's accept queue
// meanwhile, costing no descriptor of ours.
func (l *limitListener) takeSlot() error {
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.closed:
		return net.ErrClosed
	default:
	}
	l.warn("open connection limit reached: new connections wait until others close", "limit", cap(l.slots))
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.closed:
		return net.ErrClosed
	}
}

// admit counts a connection from addr, or refuses it over the cap. A
// connection from an exempt address is let in without being counted.
func (l *limitListener) admit(addr netip.Addr) (counted, ok bool) {
	for _, p := range l.exempt {
		if p.Contains(addr) {
			return false, true
		}
	}
	key := addrKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.perAddr {
		return false, false
	}
	l.open[key]++
	return true, true
}

// addrKey is what the per-address cap counts: an IPv4 address, or the /64
// an IPv6 address is in, since one IPv6 host usually has a whole /64.
func addrKey(addr netip.Addr) netip.Addr {
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// release frees what a closed connection held.
func (l *limitListener) release(addr netip.Addr, counted bool) {
	if counted {
		key := addrKey(addr)
		l.mu.Lock()
		if n := l.open[key]; n <= 1 {
			delete(l.open, key)
		} else {
			l.open[key] = n - 1
		}
		l.mu.Unlock()
	}
	<-l.slots
}

// warn logs msg at most once a second, counting the times it was held back.
func (l *limitListener) warn(msg string, args ...any) {
	l.mu.Lock()
	w := l.warned[msg]
	if w == nil {
		w = &warning{}
		l.warned[msg] = w
	}
	w.count++
	now := time.Now()
	if now.Sub(w.last) < time.Second {
		l.mu.Unlock()
		return
	}
	count := w.count
	w.last, w.count = now, 0
	l.mu.Unlock()
	l.log.Warn(msg, append(args, "count", count)...)
}

// Close stops accepting; connections already open stay open.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l       *limitListener
	addr    netip.Addr
	counted bool // against its address's cap
	once    sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr, c.counted) })
	return err
}

// SyscallConn is the TCP connection's, so that a room socket can be
// written without blocking (handlers/socket_conn.go).
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// temporary reports whether an accept error will likely pass: out of
// descriptors (EMFILE for the process, ENFILE for the system), out of
// buffers or memory, or a connection reset before it was accepted.
func temporary(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// peerAddr is the connection's remote IP (an IPv4-mapped IPv6 address
// folded to IPv4, so one client counts once).
func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// proxyPrefixes parses the trusted proxies (IPs or CIDRs) for the
// per-address exemption; an entry that is neither exempts nothing.
func proxyPrefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}
