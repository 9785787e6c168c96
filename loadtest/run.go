package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
)

// runState is what every goroutine of one run shares.
type runState struct {
	cfg    config
	start  time.Time
	id     string
	marker []byte // "¤ltm<id> " opens every message text of this run

	// Measured messages are those sent in [measureFrom, measureTo).
	measureFrom, measureTo time.Duration
	msgs                   []message // by message id; written by senders, read after they stop
	nextID                 atomic.Uint64
	roomMembers            []int // distinct members per room: the full member count

	latency     histogram
	first       histogram // posts sent in the first 10 s of traffic, warm-up included
	trafficAt   time.Duration
	kinds       [nKinds]atomic.Int64 // frames sent, by kind
	connect     histogram
	delivered   atomic.Int64
	sent        atomic.Int64
	sendErrs    atomic.Int64
	errFrames   atomic.Int64
	drops       atomic.Int64
	full        atomic.Int64 // sockets whose member count reached the room's size
	closing     atomic.Bool
	openCount   atomic.Int64
	stalledOpen atomic.Int64
	window      atomic.Pointer[histogram] // latencies since the last progress line
}

// message is one sent message, as its sender recorded it.
type message struct {
	room   int32
	sent   time.Duration // since run start; 0: never sent
	failed bool          // the write failed
}

func (rs *runState) since() time.Duration { return time.Since(rs.start) }

func (rs *runState) measured(sent time.Duration) bool {
	return sent >= rs.measureFrom && sent < rs.measureTo
}

// userOf is the account of socket j in room r. Sockets take consecutive
// accounts, so every account holds the same number of sockets (give or
// take one) and a room has min(perRoom, users) distinct members; within a
// room the order is rotated by r, so the first socket of each room (the
// one that creates it) belongs to a different account: a user may create
// only 10 rooms.
func (rs *runState) userOf(r, j int) int {
	c := rs.cfg
	return (r*c.perRoom + (j+r)%c.perRoom) % c.users
}

// run is one whole load test: accounts, sockets, traffic, tally.
func run(ctx context.Context, cfg config, progress io.Writer) (*result, error) {
	raiseFileLimit(progress)
	id := make([]byte, 3)
	_, _ = rand.Read(id)
	rs := &runState{cfg: cfg, id: hex.EncodeToString(id)}
	// The marker opens with a byte that is rare in the server's HTML
	// (the first of "¤" in UTF-8), so finding it is a memchr, not a
	// search that stops at every "l".
	rs.marker = []byte("¤ltm" + rs.id + " ")
	if cfg.roomPrefix == "" {
		cfg.roomPrefix = "lt-" + rs.id
		rs.cfg.roomPrefix = cfg.roomPrefix
	}
	res := &result{Run: rs.id, Config: cfg.public()}
	rs.roomMembers = make([]int, cfg.rooms)
	for r := range rs.roomMembers {
		rs.roomMembers[r] = min(cfg.perRoom, cfg.users)
	}
	span := cfg.warmup + cfg.duration + 2*time.Second
	nmsgs := int(cfg.rate*span.Seconds()*float64(cfg.rooms)*1.05) + cfg.rooms*cfg.senders + 16
	if cfg.rate == 0 {
		nmsgs = 0
	}
	rs.msgs = make([]message, nmsgs)

	accts, ast, err := signIn(ctx, cfg, progress)
	res.Accounts = ast
	if err != nil {
		return res, err
	}
	for _, a := range accts {
		if err := a.onNodes(cfg.bases); err != nil {
			return res, err
		}
	}
	if len(cfg.bases) > 1 && cfg.spread == spreadSockets {
		fmt.Fprintln(progress, "nodes: each room's sockets are spread over", len(cfg.bases), "nodes; the nodes must share rooms (NATTER_NATS_URL), or deliveries between nodes count as lost (-spread rooms keeps each room on one node)")
	}
	res.Server.Before = cfg.pids.proc()
	rs.start = time.Now()

	recv, err := rs.connectAll(ctx, accts, res, progress)
	defer rs.closeAll(recv, progress)
	if err != nil {
		return res, err
	}
	if cfg.settle {
		rs.settle(ctx, progress)
	}
	res.Server.Open = cfg.pids.proc()

	if cfg.rate > 0 {
		rs.traffic(ctx, recv, res, progress)
	} else {
		rs.hold(ctx, res, progress)
	}
	res.Server.End = cfg.pids.proc()
	rs.closeAll(recv, progress)
	rs.tally(recv, res)
	return res, ctx.Err()
}

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit(progress io.Writer) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(progress, "cannot raise the open-file limit:", err)
		}
	}
}

// slug is room r's slug.
func (rs *runState) slug(r int) string { return rs.cfg.roomPrefix + "-" + strconv.Itoa(r) }

// connectAll opens every socket: first one per room (which creates the
// room), then the rest round-robin over the rooms, -connect-concurrency at
// a time. It fails if the time limit passes; sockets that fail to open are
// counted, not retried.
func (rs *runState) connectAll(ctx context.Context, accts []*account, res *result, progress io.Writer) ([]*receiver, error) {
	cfg := rs.cfg
	total := cfg.rooms * cfg.perRoom
	recv := make([]*receiver, total)
	dialers := make([]*websocket.Dialer, cfg.sourceIPs)
	for i := range dialers {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(i)}, Timeout: 10 * time.Second}
		dialers[i] = &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   cfg.readBuf,
			WriteBufferSize:  1024,
			WriteBufferPool:  &sync.Pool{},
		}
	}
	// A stalled socket has a 4 KB receive buffer and is never read: the
	// server's writes to it soon block on a full window.
	stalledDialer := &websocket.Dialer{
		NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceIP(0)}, Timeout: 10 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}).DialContext,
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
	}
	open, failed := &rs.openCount, new(atomic.Int64)
	var mu sync.Mutex
	res.Sockets.FailedBy = map[string]int{}
	dial := func(r, j int) {
		idx := r*cfg.perRoom + j
		u := rs.userOf(r, j)
		t0 := time.Now()
		stalled := j >= cfg.perRoom-cfg.stalled
		d := dialers[idx%len(dialers)]
		if stalled {
			d = stalledDialer
		}
		sock, err := accts[u].nodes[nodeOf(cfg.spread, r, j, len(cfg.bases))].Dial(rs.slug(r), d)
		took := time.Since(t0)
		if err != nil {
			failed.Add(1)
			why := err.Error()
			if sock != nil && sock.Response != nil {
				why = "status " + strconv.Itoa(sock.Response.StatusCode)
			} else if strings.Contains(why, "timeout") {
				why = "timeout"
			} else if i := strings.LastIndex(why, ": "); i >= 0 {
				why = why[i+2:]
			}
			mu.Lock()
			res.Sockets.FailedBy[why]++
			mu.Unlock()
			return
		}
		rs.connect.add(idx, took)
		rc := &receiver{run: rs, idx: idx, room: r, user: u, sock: sock, done: make(chan struct{}), joinedAt: rs.since(), stalled: stalled}
		recv[idx] = rc
		open.Add(1)
		if stalled {
			rs.stalledOpen.Add(1)
			close(rc.done) // never reads: a tab that stopped reading
			return
		}
		go rc.readLoop()
	}

	var jobs chan [2]int
	var wg sync.WaitGroup
	// startDialers starts a fresh pool of dialers reading a new jobs channel.
	startDialers := func() {
		jobs = make(chan [2]int)
		for range min(cfg.connectConc, total) {
			wg.Add(1)
			go func(jobs <-chan [2]int) {
				defer wg.Done()
				for job := range jobs {
					dial(job[0], job[1])
				}
			}(jobs)
		}
	}
	startDialers()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	deadline := time.After(cfg.connectMax)
	var stopped error
	send := func(r, j int) bool {
		for {
			select {
			case jobs <- [2]int{r, j}:
				return true
			case <-tick.C:
				fmt.Fprintf(progress, "connect: %d/%d open, %d failed, %d with full member list (%.1fs)\n",
					open.Load(), total, failed.Load(), rs.full.Load(), rs.since().Seconds())
			case <-ctx.Done():
				stopped = ctx.Err()
				return false
			case <-deadline:
				stopped = errors.New("connect: time limit reached")
				return false
			}
		}
	}
feed:
	for j := range cfg.perRoom {
		for r := range cfg.rooms {
			if !send(r, j) {
				break feed
			}
		}
		if j == 0 { // rooms exist before the crowd arrives
			close(jobs)
			wg.Wait()
			startDialers()
		}
	}
	close(jobs)
	wg.Wait()
	res.Sockets.Asked = total
	res.Sockets.Open = int(open.Load())
	res.Sockets.Failed = int(failed.Load())
	res.ConnectSeconds = rs.since().Seconds()
	res.Connect = rs.connect.summary()
	fmt.Fprintf(progress, "connect: %d/%d open, %d failed in %.1fs\n", open.Load(), total, failed.Load(), res.ConnectSeconds)
	return recv, stopped
}

// settle waits (at most 60 s) until every open socket has seen its full
// member list, so that sending starts after the join notices are out,
// then -settle-pause more.
func (rs *runState) settle(ctx context.Context, progress io.Writer) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rs.full.Load()+rs.drops.Load() >= rs.openCount.Load()-rs.stalledOpen.Load() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(progress, "settle: %d/%d sockets with the full member list at %.1fs\n",
		rs.full.Load(), rs.openCount.Load(), rs.since().Seconds())
	time.Sleep(rs.cfg.settlePause)
}

// traffic runs the senders through warm-up and measurement, printing
// progress, then waits (up to -drain) for the last deliveries.
func (rs *runState) traffic(ctx context.Context, recv []*receiver, res *result, progress io.Writer) {
	cfg := rs.cfg
	begin := rs.since() + 100*time.Millisecond
	rs.trafficAt = begin
	rs.measureFrom = begin + cfg.warmup
	rs.measureTo = rs.measureFrom + cfg.duration
	rs.window.Store(new(histogram))
	cpu0 := cfg.pids.cpu()
	self0, busy0 := readCPU(-1), readBusy()
	var wg sync.WaitGroup
	for r := range cfg.rooms {
		for i := range cfg.senders {
			rc := recv[r*cfg.perRoom+i]
			if rc == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rs.sendLoop(ctx, rc, i, begin)
			}()
		}
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	last, lastT := int64(0), rs.since()
wait:
	for {
		select {
		case <-tick.C:
			now, d := rs.since(), rs.delivered.Load()
			phase := "warm-up"
			if now >= rs.measureFrom {
				phase = "measure"
			}
			win := rs.window.Swap(new(histogram)).summary()
			fmt.Fprintf(progress, "%s t=%.0fs sent=%d delivered=%d (%.0f/s) last 5s: p50=%.1fms p99=%.1fms max=%.1fms drops=%d refused=%d rss=%s\n",
				phase, (now - begin).Seconds(), rs.sent.Load(), d, float64(d-last)/(now-lastT).Seconds(),
				win.P50, win.P99, win.Max, rs.drops.Load(), rs.errFrames.Load(), kb(cfg.pids.proc().RSSKB))
			last, lastT = d, now
		case <-sendersDone:
			break wait
		case <-ctx.Done():
			<-sendersDone
			break wait
		}
	}
	if rs.sent.Load() == 0 {
		fmt.Fprintln(progress, "traffic: no message sent (every sender's socket was closed)")
	}
	cpu1, self1, busy1 := cfg.pids.cpu(), readCPU(-1), readBusy()
	secs := (rs.measureTo - begin).Seconds()
	res.Server.CPUPercent = 100 * (cpu1 - cpu0) / secs
	res.GeneratorCPUPercent = 100 * (self1 - self0) / secs
	res.OtherCPUPercent = 100*(busy1-busy0)/secs - res.Server.CPUPercent - res.GeneratorCPUPercent

	// Drain: until the deliveries stop growing or -drain passes.
	deadline := time.Now().Add(cfg.drain)
	prev := int64(-1)
	for time.Now().Before(deadline) {
		d := rs.delivered.Load()
		if d == prev {
			break
		}
		prev = d
		time.Sleep(500 * time.Millisecond)
	}
}

// sendLoop sends room messages from rc on a fixed schedule: sender i of S
// sends every S/rate seconds, offset so the room's senders (and the rooms)
// interleave evenly. A sender that falls behind sends at once and the
// latency it causes is measured, not hidden.
func (rs *runState) sendLoop(ctx context.Context, rc *receiver, i int, begin time.Duration) {
	cfg := rs.cfg
	interval := time.Duration(float64(cfg.senders) / cfg.rate * float64(time.Second))
	offset := time.Duration((float64(i) + float64(rc.room)/float64(cfg.rooms)) / cfg.rate * float64(time.Second))
	pad := ""
	if cfg.textSize > 40 {
		pad = " " + strings.Repeat("x", cfg.textSize-40)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var text []byte
	for k := 0; ; k++ {
		at := begin + offset + time.Duration(k)*interval
		if at >= rs.measureTo {
			return
		}
		if wait := at - rs.since(); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			case <-rc.done:
				return
			}
		}
		if kind := int(cfg.mix.pattern[k%len(cfg.mix.pattern)]); kind != kindPost {
			if f := actionFrame(kind, &rc.seqs, k); f != nil {
				if err := sendAction(rc, f); err != nil {
					rs.sendErrs.Add(1)
					return
				}
				rs.kinds[kind].Add(1)
				continue
			}
		}
		id := rs.nextID.Add(1) - 1
		if id >= uint64(len(rs.msgs)) {
			return
		}
		sent := rs.since()
		text = append(text[:0], rs.marker...)
		text = strconv.AppendUint(text, id, 10)
		text = append(text, ' ')
		text = strconv.AppendInt(text, int64(sent), 10)
		text = append(text, ' ')
		text = strconv.AppendInt(text, int64(rc.room), 10)
		text = append(text, pad...)
		rs.msgs[id] = message{room: int32(rc.room), sent: sent}
		rc.lastSent.Store(id + 1)
		if err := rc.sock.SendMessage(string(text)); err != nil {
			rs.msgs[id].failed = true
			rs.sendErrs.Add(1)
			return
		}
		rs.kinds[kindPost].Add(1)
		rs.sent.Add(1)
	}
}

// hold keeps idle sockets open for -duration, printing progress.
func (rs *runState) hold(ctx context.Context, res *result, progress io.Writer) {
	end := time.After(rs.cfg.duration)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			fmt.Fprintf(progress, "hold t=%.0fs drops=%d full-member-lists=%d rss=%s\n",
				rs.since().Seconds(), rs.drops.Load(), rs.full.Load(), kb(rs.cfg.pids.proc().RSSKB))
		case <-end:
			return
		case <-ctx.Done():
			return
		}
	}
}

// closeAll closes every socket (a TCP close: the server sees the peer go)
// and waits, at most 15 s, for the read loops to end.
func (rs *runState) closeAll(recv []*receiver, progress io.Writer) {
	rs.closing.Store(true)
	for _, rc := range recv {
		if rc != nil {
			_ = rc.sock.Close()
		}
	}
	deadline := time.After(15 * time.Second)
	for _, rc := range recv {
		if rc == nil {
			continue
		}
		select {
		case <-rc.done:
		case <-deadline:
			fmt.Fprintln(progress, "close: some read loops did not end in 15s")
			return
		}
	}
}
