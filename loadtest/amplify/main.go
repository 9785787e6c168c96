// Command amplify replays the snapshot amplification attack of issue 10
// (item 1) against a running Natter on loopback and measures what it costs
// the server and the other members:
//
//  1. one attacker fills room "amp" with link-dense 2,000-character messages;
//
//  2. a watcher and a sender join it; the sender posts every 50 ms and the
//     watcher times each delivery;
//
//  3. 5 accounts open 20 sockets each that never read, and 4 loops
//     reconnect as fast as they can, for -duration;
//
//  4. it prints the snapshot and room page sizes, the server's resident
//     memory (from /proc/PID/status) before and at its highest, and the
//     watcher's delivery latency percentiles.
//
//     go run ./loadtest/amplify -base http://127.0.0.1:8091 -pid $(pgrep -n natter)
//
// Run the server with a message burst of at least -fill, so the fill takes
// no time: NATTER_MESSAGE_RATE=100 NATTER_MESSAGE_BURST=400. Accounts sign
// up from their own loopback addresses (127.50.x.y), sockets dial from
// fresh ones, so the per-address limits do not interfere.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"

	"natter/client"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8091", "server base URL (loopback)")
	pid := flag.Int("pid", 0, "server pid, for its resident memory")
	fill := flag.Int("fill", 200, "messages the attacker posts first")
	accounts := flag.Int("accounts", 5, "attacker accounts holding non-reading sockets")
	per := flag.Int("per", 20, "non-reading sockets per attacker account")
	loops := flag.Int("loops", 4, "reconnect loops")
	duration := flag.Duration("duration", 20*time.Second, "how long the sockets and loops run")
	rcvbuf := flag.Int("rcvbuf", 4096, "receive buffer of the non-reading sockets (0: the system's)")
	freshIPs := flag.Bool("loop-fresh-ips", false, "reconnect loops dial from a new address each time (default: one address per loop, as one attacking host)")
	flag.Parse()
	if err := run(*base, *pid, *fill, *accounts, *per, *loops, *duration, *rcvbuf, *freshIPs); err != nil {
		fmt.Fprintln(os.Stderr, "amplify:", err)
		os.Exit(1)
	}
}

// ipSeq hands out loopback source addresses, one per account or socket.
var ipSeq atomic.Int64

func nextIP() net.IP {
	i := int(ipSeq.Add(1)) + int(time.Now().Unix()%50000)*7
	return net.IPv4(127, byte(50+i/(250*250)%100), byte(i/250%250), byte(i%250+1))
}

// dialer dials a socket from a fresh loopback address; rcvbuf, if not
// zero, shrinks its receive buffer (a peer on a slow link: the server's
// writes block soon and what it queues stays in its own memory).
func dialer(rcvbuf int) *websocket.Dialer {
	return dialerFrom(nextIP(), rcvbuf)
}

// dialerFrom dials from ip; see dialer.
func dialerFrom(ip net.IP, rcvbuf int) *websocket.Dialer {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
		}
	}
	return &websocket.Dialer{HandshakeTimeout: 30 * time.Second, NetDialContext: d.DialContext}
}

func signup(base, name string) (*client.Client, error) {
	c, err := client.New(base)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: nextIP()}, Timeout: 10 * time.Second}
	c.HTTP.Transport = &http.Transport{DialContext: d.DialContext}
	return c, c.Register(name, name+"@example.com", "plum-kettle-orbit-42")
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

var stamp = regexp.MustCompile(`lat-(\d+)-end`)

func run(base string, pid, fill, accounts, per, loops int, duration time.Duration, rcvbuf int, freshIPs bool) error {
	tag := strconv.FormatInt(time.Now().Unix()%100000, 36)
	const room = "amp"
	att, err := signup(base, "att"+tag)
	if err != nil {
		return err
	}
	as, err := att.Dial(room, dialer(0))
	if err != nil {
		return err
	}
	go func() { // the attacker reads its own socket
		for {
			if _, _, err := as.ReadMessage(); err != nil {
				return
			}
		}
	}()
	text := strings.TrimSpace(strings.Repeat("http://a.b ", 181)) // 1,991 characters, 181 links
	for i := range fill {
		if err := as.SendMessage(text); err != nil {
			return fmt.Errorf("fill %d: %w", i, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	watcher, err := signup(base, "wat"+tag)
	if err != nil {
		return err
	}
	page, err := watcher.Get("/rooms/" + room)
	if err != nil {
		return err
	}
	ws, err := watcher.Dial(room, dialer(0))
	if err != nil {
		return err
	}
	_, snap, err := ws.ReadMessage()
	if err != nil {
		return err
	}
	fmt.Printf("room page %d bytes, first socket message (snapshot) %d bytes\n", len(page.Body), len(snap))
	sender, err := signup(base, "snd"+tag)
	if err != nil {
		return err
	}
	ss, err := sender.Dial(room, dialer(0))
	if err != nil {
		return err
	}
	go func() {
		for {
			if _, _, err := ss.ReadMessage(); err != nil {
				return
			}
		}
	}()

	var mu sync.Mutex
	var lat []time.Duration
	go func() {
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			for _, m := range stamp.FindAllSubmatch(b, -1) {
				sent, _ := strconv.ParseInt(string(m[1]), 10, 64)
				mu.Lock()
				lat = append(lat, time.Duration(now-sent))
				mu.Unlock()
			}
		}
	}()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the sender posts every 50 ms
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = ss.SendMessage(fmt.Sprintf("lat-%d-end", time.Now().UnixNano()))
			}
		}
	}()
	time.Sleep(2 * time.Second) // a baseline before the attack
	before := rss(pid)
	mu.Lock()
	baseline := slices.Clone(lat)
	lat = lat[:0]
	mu.Unlock()

	var peak atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if r := rss(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var stuck []*client.Socket
	var smu sync.Mutex
	var held atomic.Int64
	for a := range accounts {
		c, err := signup(base, fmt.Sprintf("hog%d%s", a, tag))
		if err != nil {
			return err
		}
		for range per {
			wg.Add(1)
			go func() { // a socket that never reads
				defer wg.Done()
				s, err := c.Dial(room, dialer(rcvbuf))
				if err != nil {
					return
				}
				held.Add(1)
				smu.Lock()
				stuck = append(stuck, s)
				smu.Unlock()
			}()
		}
	}
	var reconnects atomic.Int64
	for l := range loops {
		c, err := signup(base, fmt.Sprintf("loop%d%s", l, tag))
		if err != nil {
			return err
		}
		ip := nextIP()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := dialerFrom(ip, 0)
				if freshIPs {
					d = dialer(0)
				}
				s, err := c.Dial(room, d)
				if err != nil {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				s.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _, _ = s.ReadMessage() // the snapshot
				s.Close()
				reconnects.Add(1)
			}
		}()
	}
	time.Sleep(duration)
	close(stop)
	mu.Lock()
	during := slices.Clone(lat)
	mu.Unlock()
	smu.Lock()
	for _, s := range stuck {
		s.Close()
	}
	smu.Unlock()
	ws.Close()
	ss.Close()
	as.Close()
	wg.Wait()

	fmt.Printf("server RSS %.0f MB before the attack, %.0f MB at its highest during it\n",
		float64(before)/(1<<20), float64(peak.Load())/(1<<20))
	fmt.Printf("non-reading sockets opened %d, reconnects %d in %v\n", held.Load(), reconnects.Load(), duration)
	fmt.Printf("watcher delivery before: %s\n", pct(baseline))
	fmt.Printf("watcher delivery during: %s\n", pct(during))
	return nil
}

func pct(d []time.Duration) string {
	if len(d) == 0 {
		return "no deliveries"
	}
	slices.Sort(d)
	at := func(p float64) time.Duration {
		return d[min(len(d)-1, int(p*float64(len(d))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(d), at(0.50), at(0.99), d[len(d)-1].Round(100*time.Microsecond))
}
