// Command loadtest drives a running Natter the way many browsers would: it
// signs in (or signs up) accounts through the HTTP contract, opens room
// sockets spread over those accounts and over loopback source addresses,
// sends htmx ws frames at a fixed rate and measures, at every receiver,
// deliveries, send-to-receive latency, lost and duplicated deliveries,
// member-list completeness (join storms) and, given the server's pid, its
// resident memory.
//
//	go run ./loadtest -base http://127.0.0.1:8090 -users 1000 -signup \
//	    -rooms 2 -per-room 500 -senders 4 -rate 50 -duration 30s
//
// Every phase is bounded in time and the number of sockets is capped; it
// talks only to the addresses given by -base: one node, or several that
// share accounts (-base http://127.0.0.1:8090,http://127.0.0.1:8091; see
// -spread). See docs/performance.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	bases       bases  // the nodes' base URLs; accounts sign in on the first
	spread      string // how sockets are put on the nodes (nodes.go)
	users       int
	rooms       int
	perRoom     int
	senders     int
	rate        float64 // messages per second per room, over its senders
	duration    time.Duration
	warmup      time.Duration
	drain       time.Duration
	pids        pids
	jsonOut     bool
	password    string
	userPrefix  string
	roomPrefix  string
	sourceIPs   int
	signup      bool
	cookieFile  string
	loginConc   int
	connectConc int
	connectMax  time.Duration
	maxSockets  int
	textSize    int
	mixSpec     string
	mix         mix
	settle      bool
	settlePause time.Duration
	readBuf     int
	stalled     int
}

// hardMaxSockets is what one process can hold under the 20,000 open-file
// limit, with room for the HTTP connections and the runtime's own files.
const hardMaxSockets = 19500

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	if path := os.Getenv("LOADTEST_CPUPROFILE"); path != "" {
		// The generator's own profile, to keep it cheaper than the server.
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, cfg, os.Stderr)
	if res != nil {
		if cfg.jsonOut {
			writeJSON(os.Stdout, res)
			writeSummary(os.Stderr, res)
		} else {
			writeSummary(os.Stdout, res)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&c.bases, "base", "Natter's base URL (its NATTER_BASE_URL; loopback only); several nodes: a comma-separated list, or the flag repeated (default http://127.0.0.1:8090)")
	fs.StringVar(&c.spread, "spread", spreadSockets, "with several -base: sockets (each room's sockets round-robin over the nodes) or rooms (each room on one node, rooms round-robin)")
	fs.IntVar(&c.users, "users", 100, "accounts to sign in (sockets are spread over them)")
	fs.IntVar(&c.rooms, "rooms", 1, "rooms to open")
	fs.IntVar(&c.perRoom, "per-room", 10, "sockets per room")
	fs.IntVar(&c.senders, "senders", 1, "sending sockets per room")
	fs.Float64Var(&c.rate, "rate", 1, "messages per second per room, shared by its senders (0: idle sockets)")
	fs.DurationVar(&c.duration, "duration", 30*time.Second, "measured sending time (with -rate 0: how long the sockets are held)")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "sending time before measuring")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "longest wait for deliveries after the last send")
	fs.Var(&c.pids, "pid", "the server's process id, to read its CPU and memory from /proc (same machine); several nodes (and NATS): a comma-separated list, or the flag repeated, whose figures are summed")
	fs.BoolVar(&c.jsonOut, "json", false, "print one JSON object on stdout (the summary goes to stderr)")
	fs.StringVar(&c.password, "password", "loadtest-Passw0rd-natter", "password of every load-test account")
	fs.StringVar(&c.userPrefix, "user-prefix", "lt", "account names are PREFIX0, PREFIX1, ...")
	fs.StringVar(&c.roomPrefix, "room-prefix", "", "room slugs are PREFIX-0, PREFIX-1, ... (default: lt-RUNID, new rooms every run)")
	fs.IntVar(&c.sourceIPs, "source-ips", 128, "loopback source addresses to spread sockets over (about 28,000 ports each; Natter allows 256 connections per address)")
	fs.BoolVar(&c.signup, "signup", false, "sign up accounts that cannot sign in (argon2: ~100 ms each on the server; 10 per hour per source IP)")
	fs.StringVar(&c.cookieFile, "cookies", "", "file that caches session cookies between runs (skips the password hashes)")
	fs.IntVar(&c.loginConc, "login-concurrency", 8, "sign-ins or sign-ups in flight")
	fs.IntVar(&c.connectConc, "connect-concurrency", 200, "socket handshakes in flight")
	fs.DurationVar(&c.connectMax, "connect-timeout", 3*time.Minute, "longest time for opening all sockets")
	fs.IntVar(&c.maxSockets, "max-sockets", hardMaxSockets, "refuse to open more sockets than this")
	fs.IntVar(&c.textSize, "text-size", 0, "pad each message text to about this many characters")
	fs.StringVar(&c.mixSpec, "mix", "", "frames the senders send, by weight: e.g. posts=80,reactions=10,edits=5,typing=5 (default: posts only); only posts are measured")
	fs.BoolVar(&c.settle, "settle", true, "wait for every member list (at most 60 s) and -settle-pause more before sending; -settle=false sends right after the sockets opened, during the join storm")
	fs.DurationVar(&c.settlePause, "settle-pause", 2*time.Second, "pause after every member list is full; 0 sends right after the join storm (see latency_first_10s)")
	fs.IntVar(&c.stalled, "stalled", 0, "sockets per room (its last ones) that never read, with a 4 KB receive buffer: they are left out of the deliveries; the others' latency shows what they cost")
	fs.IntVar(&c.readBuf, "read-buffer", 0, "read buffer per socket (default 64 KB with traffic, the most the server joins frames into, else 4 KB)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, c.check()
}

// check refuses settings that are unbounded or leave loopback.
func (c *config) check() error {
	if len(c.bases) == 0 {
		c.bases = bases{"http://127.0.0.1:8090"}
	}
	if err := checkBases(c.bases); err != nil {
		return err
	}
	switch {
	case c.spread != spreadSockets && c.spread != spreadRooms:
		return fmt.Errorf("-spread must be %s or %s", spreadSockets, spreadRooms)
	case c.users < 1, c.rooms < 1, c.perRoom < 1:
		return fmt.Errorf("-users, -rooms and -per-room must be at least 1")
	case c.senders < 0 || c.senders > c.perRoom:
		return fmt.Errorf("-senders must be between 0 and -per-room")
	case c.rate < 0 || c.rate > 100000:
		return fmt.Errorf("-rate must be between 0 and 100000")
	case c.duration <= 0 || c.duration > 2*time.Hour || c.warmup < 0 || c.warmup > 10*time.Minute:
		return fmt.Errorf("-duration must be in (0, 2h], -warmup in [0, 10m]")
	case c.drain < 0 || c.drain > time.Minute:
		return fmt.Errorf("-drain must be in [0, 1m]")
	case c.sourceIPs < 1 || c.sourceIPs > 60000:
		return fmt.Errorf("-source-ips must be between 1 and 60000")
	case c.maxSockets < 1 || c.maxSockets > hardMaxSockets:
		return fmt.Errorf("-max-sockets must be between 1 and %d", hardMaxSockets)
	case c.rooms*c.perRoom > c.maxSockets:
		return fmt.Errorf("%d sockets asked, -max-sockets is %d", c.rooms*c.perRoom, c.maxSockets)
	case c.loginConc < 1 || c.loginConc > 256 || c.connectConc < 1 || c.connectConc > 5000:
		return fmt.Errorf("-login-concurrency must be in [1, 256], -connect-concurrency in [1, 5000]")
	case c.textSize < 0 || c.textSize > 1900:
		return fmt.Errorf("-text-size must be in [0, 1900]")
	case c.settlePause < 0 || c.settlePause > time.Minute:
		return fmt.Errorf("-settle-pause must be in [0, 1m]")
	case c.stalled < 0 || (c.stalled > 0 && c.stalled >= c.perRoom-c.senders):
		return fmt.Errorf("-stalled must be in [0, -per-room - -senders)")
	case c.readBuf != 0 && (c.readBuf < 256 || c.readBuf > 1<<20):
		return fmt.Errorf("-read-buffer must be in [256, 1048576]")
	}
	if c.readBuf == 0 {
		c.readBuf = 4096
		if c.rate > 0 {
			c.readBuf = 64 << 10
		}
	}
	m, err := parseMix(c.mixSpec)
	if err != nil {
		return err
	}
	c.mix = m
	if c.rate > 0 && c.senders == 0 {
		c.senders = 1
	}
	return nil
}
