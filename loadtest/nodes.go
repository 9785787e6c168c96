package main

import (
	"fmt"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"

	"natter/client"
)

// Several nodes: -base may name several Natter nodes (a comma-separated
// list, or the flag repeated), which share their accounts (PostgreSQL) and
// user events (NATS). Accounts sign in on the first; sockets are spread
// over all of them as -spread says.

// bases is the -base flag: one URL or more, in order.
type bases []string

func (b *bases) String() string { return strings.Join(*b, ",") }

// Set adds the URLs of one -base (several separated by commas).
func (b *bases) Set(v string) error {
	for _, one := range strings.Split(v, ",") {
		if one = strings.TrimSpace(one); one != "" {
			*b = append(*b, strings.TrimRight(one, "/"))
		}
	}
	return nil
}

// checkBases refuses a URL that is not http(s) on loopback.
func checkBases(list []string) error {
	if len(list) == 0 {
		return fmt.Errorf("-base is empty")
	}
	for _, b := range list {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("bad -base %q", b)
		}
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("-base %q is not a loopback address; this generator only targets loopback", b)
		}
	}
	return nil
}

// The ways -spread puts sockets on nodes.
const (
	// spreadSockets deals every room's sockets round-robin over the
	// nodes, each room starting one node further, so that the nodes get
	// equal shares of sockets and of rooms' first sockets. Until rooms
	// are shared across nodes, a room's members on different nodes do not
	// hear each other: the deliveries between nodes count as lost.
	spreadSockets = "sockets"
	// spreadRooms puts all of a room's sockets on one node, the rooms
	// round-robin over the nodes: what works before rooms are shared.
	spreadRooms = "rooms"
)

// nodeOf is the index, among n nodes, of the node that socket j of room r
// opens on.
func nodeOf(spread string, r, j, n int) int {
	if spread == spreadRooms {
		return r % n
	}
	return (r + j) % n
}

// onNodes gives a the clients of every node: copies of its client,
// addressed to each base, with the cookies it signed in with (the same
// browser, sent to another node).
func (a *account) onNodes(list []string) error {
	a.nodes = make([]*client.Client, len(list))
	from := a.client.HTTP.Jar.Cookies(a.client.Base)
	for i, b := range list {
		c, err := client.New(b)
		if err != nil {
			return err
		}
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(c.Base, from)
		c.HTTP.Jar = jar
		a.nodes[i] = c
	}
	return nil
}

// pids is the -pid flag: the processes whose CPU and memory count as the
// server's (with several nodes, every node and NATS), summed.
type pids []int

func (p *pids) String() string {
	s := make([]string, len(*p))
	for i, pid := range *p {
		s[i] = strconv.Itoa(pid)
	}
	return strings.Join(s, ",")
}

// Set adds the process ids of one -pid (several separated by commas).
func (p *pids) Set(v string) error {
	for _, one := range strings.Split(v, ",") {
		if one = strings.TrimSpace(one); one == "" {
			continue
		}
		pid, err := strconv.Atoi(one)
		if err != nil || pid <= 0 {
			return fmt.Errorf("bad -pid %q: want process ids", one)
		}
		*p = append(*p, pid)
	}
	return nil
}

// proc sums the processes' memory, threads and open files.
func (p pids) proc() procInfo {
	var sum procInfo
	for _, pid := range p {
		one := readProc(pid)
		sum.RSSKB += one.RSSKB
		sum.PeakKB += one.PeakKB
		sum.Threads += one.Threads
		sum.FDs += one.FDs
	}
	return sum
}

// cpu sums the processes' user+system CPU seconds.
func (p pids) cpu() float64 {
	var sum float64
	for _, pid := range p {
		sum += readCPU(pid)
	}
	return sum
}
