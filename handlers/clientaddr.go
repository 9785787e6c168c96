package handlers

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The client's address, for rate limits and logs. Fiber's c.IP() behind a
// proxy is the raw X-Forwarded-For header, which the client writes itself:
// keyed on it, every request could pick its own rate-limit bucket. So
// Natter reads the header itself, trusting only what trusted proxies added.

// localClientAddr holds the request's netip.Addr, set by logRequests (the
// first middleware) so limits and logs of one request agree.
const localClientAddr = "natter.client"

// parseProxies reads the trusted proxy list: single addresses or CIDR
// prefixes ("10.0.0.1", "10.0.0.0/8", "::1").
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if strings.Contains(p, "/") {
			pre, err := netip.ParsePrefix(p)
			if err != nil {
				return nil, fmt.Errorf("handlers: trusted proxy %q is not an address or CIDR prefix", p)
			}
			out = append(out, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("handlers: trusted proxy %q is not an address or CIDR prefix", p)
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// resolveClient finds the client's address: the peer's, unless the peer is
// a trusted proxy; then the right-most X-Forwarded-For entry that is not a
// trusted proxy. Entries left of that one were written by the client (or
// proxies we know nothing of) and are never read. A request from a trusted
// proxy without the header, or whose right-most untrusted entry is not an
// address, is keyed on the last trusted hop (the proxy itself).
func resolveClient(peer netip.Addr, forwarded [][]byte, trusted []netip.Prefix) netip.Addr {
	if !isTrusted(peer, trusted) {
		return peer
	}
	addr := peer
	// Several X-Forwarded-For headers are one list, in order.
	for i := len(forwarded) - 1; i >= 0; i-- {
		entries := strings.Split(string(forwarded[i]), ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseForwarded(entries[j])
			if !ok {
				return addr
			}
			if !isTrusted(a, trusted) {
				return a
			}
			addr = a
		}
	}
	return addr
}

// parseForwarded reads one X-Forwarded-For entry: an address, optionally
// with a port ("192.0.2.1:4711", "[2001:db8::1]:443"), as proxies write.
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address at the other end of the TCP connection.
func peerAddr(c *fiber.Ctx) netip.Addr {
	a, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	return a.Unmap()
}

// clientAddr is the request's client address (see resolveClient).
func clientAddr(c *fiber.Ctx) netip.Addr {
	if a, ok := c.Locals(localClientAddr).(netip.Addr); ok {
		return a
	}
	return peerAddr(c)
}

// clientIP is the client address as logs show it.
func clientIP(c *fiber.Ctx) string { return clientAddr(c).String() }

// limitKey is the rate-limit bucket of an address: the address itself for
// IPv4, its /64 for IPv6, because one subscriber is routinely given a whole
// /64 and could otherwise take a new bucket per request.
func limitKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// socketIP is the client address of an upgraded socket, kept from its
// upgrade request.
func socketIP(conn interface{ Locals(string, ...any) any }) string {
	if a, ok := conn.Locals(localClientAddr).(netip.Addr); ok {
		return a.String()
	}
	return ""
}
