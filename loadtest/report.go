package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// result is everything a run measured; -json prints it as one object.
type result struct {
	Run      string         `json:"run"`
	Config   map[string]any `json:"config"`
	Accounts accountStats   `json:"accounts"`
	Sockets  struct {
		Asked    int            `json:"asked"`
		Open     int            `json:"open"`
		Failed   int            `json:"failed"`
		FailedBy map[string]int `json:"failed_by,omitempty"`
		Stalled  int            `json:"stalled"` // never read (-stalled), left out of the deliveries
		Dropped  int            `json:"dropped"` // closed by the server or the network during the run
		DropBy   map[string]int `json:"dropped_by,omitempty"`
	} `json:"sockets"`
	ConnectSeconds float64 `json:"connect_seconds"`
	Connect        summary `json:"handshake"`
	Join           struct {
		FullSockets  int     `json:"sockets_with_full_member_list"`
		FullSeconds  float64 `json:"all_member_lists_full_seconds"` // since the first handshake began; 0: not all
		FullLists    int64   `json:"full_member_lists"`             // snapshots received; one per socket is expected
		FramesPerSkt float64 `json:"ws_messages_per_socket"`
		BytesPerSkt  float64 `json:"bytes_per_socket"`
	} `json:"join"`
	Messages struct {
		Sent       int64 `json:"sent"`
		Measured   int64 `json:"measured"`
		SendErrors int64 `json:"send_errors"`
		Refused    int64 `json:"refused_frames"` // message-error fragments
	} `json:"messages"`
	Deliveries struct {
		Expected   int64   `json:"expected"`
		Delivered  int64   `json:"delivered"`
		Lost       int64   `json:"lost"`
		Duplicated int64   `json:"duplicated"`
		Foreign    int64   `json:"cross_room"`
		PerSecond  float64 `json:"per_second"`
	} `json:"deliveries"`
	Latency summary `json:"latency"`
	// First10s is the latency of the posts sent in the first 10 s of
	// traffic (warm-up included): with -settle=false, a join storm's
	// aftermath.
	First10s summary `json:"latency_first_10s"`
	// Sent counts the frames sent by kind (-mix).
	Sent                map[string]int64 `json:"sent_by_kind"`
	GeneratorCPUPercent float64          `json:"generator_cpu_percent"`
	OtherCPUPercent     float64          `json:"other_cpu_percent"` // everything else on the machine: a busy neighbour spoils the figures
	Server              serverInfo       `json:"server"`
}

// serverInfo is what /proc says of the server at three moments.
type serverInfo struct {
	Before      procInfo `json:"before"`
	Open        procInfo `json:"open"` // 2 s after every socket opened
	End         procInfo `json:"end"`
	PerSocketKB float64  `json:"rss_per_socket_kb"` // (open - before) / open sockets
	CPUPercent  float64  `json:"cpu_percent"`       // during warm-up and measurement
	// CPUPerDelivery is the server's CPU time per delivery, in
	// microseconds: unlike latency, it hardly depends on what else the
	// machine runs, so 1e6 / CPUPerDelivery bounds one core's delivery rate.
	CPUPerDelivery float64 `json:"cpu_us_per_delivery"`
}

// procInfo is a process's memory and counts.
type procInfo struct {
	RSSKB   int64 `json:"rss_kb"`
	PeakKB  int64 `json:"peak_rss_kb"`
	Threads int   `json:"threads"`
	FDs     int   `json:"fds"`
}

// public is the configuration as the report shows it.
func (c config) public() map[string]any {
	return map[string]any{
		"base": c.bases.String(), "spread": c.spread, "users": c.users, "rooms": c.rooms, "per_room": c.perRoom,
		"senders": c.senders, "rate_per_room": c.rate, "duration": c.duration.String(),
		"warmup": c.warmup.String(), "source_ips": c.sourceIPs, "connect_concurrency": c.connectConc,
		"room_prefix": c.roomPrefix, "text_size": c.textSize, "mix": c.mix.String(), "settle": c.settle, "settle_pause": c.settlePause.String(), "stalled": c.stalled,
	}
}

// tally counts, after every read loop ended, what each receiver should
// have had: every measured message of its room sent while it was open.
func (rs *runState) tally(recv []*receiver, res *result) {
	byRoom := make([][]*receiver, rs.cfg.rooms)
	var frames, bytes int64
	open := 0
	res.Sockets.DropBy = map[string]int{}
	for _, rc := range recv {
		if rc == nil {
			continue
		}
		if rc.stalled {
			res.Sockets.Stalled++
			continue
		}
		open++
		byRoom[rc.room] = append(byRoom[rc.room], rc)
		d := &res.Deliveries
		d.Delivered += rc.delivered
		d.Duplicated += rc.duplicates
		d.Foreign += rc.foreign
		res.Join.FullLists += rc.snapshots
		frames += rc.frames
		bytes += rc.bytes
		if rc.fullAt > 0 {
			res.Join.FullSockets++
			res.Join.FullSeconds = max(res.Join.FullSeconds, rc.fullAt.Seconds())
		}
		if rc.dropped.Load() > 0 {
			res.Sockets.Dropped++
			why := "close " + strconv.Itoa(rc.closeCode)
			if rc.closeCode == 0 {
				why = rc.readErr
				if i := strings.LastIndex(why, ": "); i >= 0 {
					why = why[i+2:]
				}
			}
			res.Sockets.DropBy[why]++
		}
	}
	if res.Join.FullSockets < open {
		res.Join.FullSeconds = 0
	}
	if open > 0 {
		res.Join.FramesPerSkt = float64(frames) / float64(open)
		res.Join.BytesPerSkt = float64(bytes) / float64(open)
	}
	n := min(rs.nextID.Load(), uint64(len(rs.msgs)))
	for id := range n {
		m := rs.msgs[id]
		if m.sent == 0 || m.failed || !rs.measured(m.sent) {
			continue
		}
		res.Messages.Measured++
		for _, rc := range byRoom[m.room] {
			drop := time.Duration(rc.dropped.Load())
			if rc.joinedAt > m.sent || (drop > 0 && drop <= m.sent) {
				continue
			}
			res.Deliveries.Expected++
			if rc.seen == nil || rc.seen[id/64]&(1<<(id%64)) == 0 {
				res.Deliveries.Lost++
			}
		}
	}
	res.Messages.Sent = rs.sent.Load()
	res.Messages.SendErrors = rs.sendErrs.Load()
	res.Messages.Refused = rs.errFrames.Load()
	if rs.cfg.rate > 0 {
		res.Deliveries.PerSecond = float64(res.Deliveries.Delivered) / rs.cfg.duration.Seconds()
	}
	res.Latency = rs.latency.summary()
	res.First10s = rs.first.summary()
	res.Sent = map[string]int64{}
	for k := range nKinds {
		if n := rs.kinds[k].Load(); n > 0 {
			res.Sent[kindNames[k]] = n
		}
	}
	if d := res.Deliveries.Delivered; d > 0 && res.Server.CPUPercent > 0 {
		secs := (rs.measureTo - rs.measureFrom + rs.cfg.warmup).Seconds()
		perSec := float64(d) / rs.cfg.duration.Seconds()
		res.Server.CPUPerDelivery = res.Server.CPUPercent / 100 * secs / (perSec * secs) * 1e6
	}
	if res.Sockets.Open > 0 && res.Server.Open.RSSKB > 0 {
		res.Server.PerSocketKB = float64(res.Server.Open.RSSKB-res.Server.Before.RSSKB) / float64(res.Sockets.Open)
	}
}

// readProc reads a process's memory, threads and open files; pid 0 gives
// zeroes.
func readProc(pid int) procInfo {
	var p procInfo
	if pid <= 0 {
		return p
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return p
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			p.RSSKB = n
		case "VmHWM":
			p.PeakKB = n
		case "Threads":
			p.Threads = int(n)
		}
	}
	if ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
		p.FDs = len(ents)
	}
	return p
}

// readBusy returns the CPU seconds the whole machine spent busy (every
// state of /proc/stat's cpu line but idle and iowait), to show how much
// of the machine processes other than the server and the generator took.
func readBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100
}

// readCPU returns a process's user+system CPU seconds (pid -1: this
// process; 0: none).
func readCPU(pid int) float64 {
	path := "/proc/self/stat"
	if pid == 0 {
		return 0
	} else if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/stat"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64) // utime: field 14 of stat
	st, _ := strconv.ParseFloat(f[12], 64) // stime: field 15
	return (ut + st) / 100                 // USER_HZ is 100 on Linux
}

func kb(n int64) string {
	if n == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1fMB", float64(n)/1024)
}

func writeJSON(w io.Writer, res *result) {
	enc := json.NewEncoder(w)
	_ = enc.Encode(res)
}

// writeSummary prints the result for a person.
func writeSummary(w io.Writer, r *result) {
	c := r.Config
	fmt.Fprintf(w, "run %s: %v rooms x %v sockets, %v users, %v senders/room, %v msg/s/room, %v measured after %v warm-up\n",
		r.Run, c["rooms"], c["per_room"], c["users"], c["senders"], c["rate_per_room"], c["duration"], c["warmup"])
	fmt.Fprintf(w, "accounts   %.1fs (cached %d, signed in %d, signed up %d)\n",
		r.Accounts.Seconds, r.Accounts.Cached, r.Accounts.SignedIn, r.Accounts.SignedUp)
	fmt.Fprintf(w, "sockets    %d/%d open in %.1fs, %d failed %v, %d dropped %v, %d stalled (never read)\n",
		r.Sockets.Open, r.Sockets.Asked, r.ConnectSeconds, r.Sockets.Failed, r.Sockets.FailedBy, r.Sockets.Dropped, r.Sockets.DropBy, r.Sockets.Stalled)
	fmt.Fprintf(w, "handshake  p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms\n", r.Connect.P50, r.Connect.P90, r.Connect.P99, r.Connect.Max)
	full := "not all"
	if r.Join.FullSeconds > 0 {
		full = fmt.Sprintf("all in %.2fs", r.Join.FullSeconds)
	}
	fmt.Fprintf(w, "members    %d sockets saw the full member list (%s); %d full lists for %d sockets; %.0f ws messages, %.0f KB per socket\n",
		r.Join.FullSockets, full, r.Join.FullLists, r.Sockets.Open, r.Join.FramesPerSkt, r.Join.BytesPerSkt/1024)
	if r.Messages.Sent > 0 {
		d := r.Deliveries
		fmt.Fprintf(w, "messages   %d sent (%d measured), %d send errors, %d refused\n",
			r.Messages.Sent, r.Messages.Measured, r.Messages.SendErrors, r.Messages.Refused)
		fmt.Fprintf(w, "deliveries %d/%d expected, lost %d, duplicated %d, cross-room %d, %.0f/s\n",
			d.Delivered, d.Expected, d.Lost, d.Duplicated, d.Foreign, d.PerSecond)
		l := r.Latency
		fmt.Fprintf(w, "latency    p50 %.1fms p90 %.1fms p99 %.1fms p99.9 %.1fms max %.1fms\n", l.P50, l.P90, l.P99, l.P999, l.Max)
		f := r.First10s
		fmt.Fprintf(w, "first 10s  p50 %.1fms p90 %.1fms p99 %.1fms max %.1fms (posts sent in the first 10 s of traffic)\n", f.P50, f.P90, f.P99, f.Max)
		fmt.Fprintf(w, "sent       %v\n", r.Sent)
		fmt.Fprintf(w, "cpu        server %.0f%% (%.1f µs per delivery), generator %.0f%%, rest of the machine %.0f%% (of one core)\n",
			r.Server.CPUPercent, r.Server.CPUPerDelivery, r.GeneratorCPUPercent, r.OtherCPUPercent)
	}
	s := r.Server
	if s.Open.RSSKB > 0 {
		fmt.Fprintf(w, "server     rss %s before, %s open, %s end, peak %s; %.1f KB per open socket; %d fds, %d threads\n",
			kb(s.Before.RSSKB), kb(s.Open.RSSKB), kb(s.End.RSSKB), kb(s.End.PeakKB), s.PerSocketKB, s.Open.FDs, s.Open.Threads)
	}
}
