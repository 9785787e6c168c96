package handlers

import (
	"net/netip"
	"testing"
)

func TestResolveClient(t *testing.T) {
	trusted, err := parseProxies([]string{"127.0.0.1", "10.0.0.0/8", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name      string
		peer      netip.Addr
		forwarded []string
		want      string
	}{
		{"untrusted peer: header ignored", netip.MustParseAddr("192.0.2.7"), []string{"198.51.100.1"}, "192.0.2.7"},
		{"proxy appended the client", peer, []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written entries on the left are not read", peer, []string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"trusted hops on the right are skipped", peer, []string{"1.1.1.1, 203.0.113.9, 10.0.0.5"}, "203.0.113.9"},
		{"several headers are one list", peer, []string{"1.1.1.1", "203.0.113.9"}, "203.0.113.9"},
		{"no header: the peer", peer, nil, "127.0.0.1"},
		{"empty header: the peer", peer, []string{""}, "127.0.0.1"},
		{"garbage right-most: the last trusted hop", peer, []string{"203.0.113.9, not-an-ip"}, "127.0.0.1"},
		{"garbage behind a trusted hop", peer, []string{"x, 10.0.0.5"}, "10.0.0.5"},
		{"only trusted hops: the left-most", peer, []string{"10.0.0.1, 10.0.0.5"}, "10.0.0.1"},
		{"port", peer, []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6 with port", peer, []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv4-mapped IPv6", peer, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone dropped", peer, []string{"fe80::1%eth0"}, "fe80::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h [][]byte
			for _, f := range tt.forwarded {
				h = append(h, []byte(f))
			}
			if got := resolveClient(tt.peer, h, trusted).String(); got != tt.want {
				t.Errorf("resolveClient(%s, %q) = %s, want %s", tt.peer, tt.forwarded, got, tt.want)
			}
		})
	}
	if _, err := parseProxies([]string{"proxy.example"}); err == nil {
		t.Error("a host name was accepted as a trusted proxy")
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.9":              "203.0.113.9",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":          "2001:db8:1:3::/64",
	} {
		if got := limitKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("limitKey(%s) = %s, want %s", in, got, want)
		}
	}
}
