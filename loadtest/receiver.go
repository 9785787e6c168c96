package main

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"natter/client"
)

// Markers in the frames the server renders (views/messages.templ).
var (
	snapshotMessages = []byte(`<ol id="messages" hx-swap-oob="innerHTML"`) // then data-epoch
	snapshotMembers  = []byte(`<ul id="members" hx-swap-oob="innerHTML">`)
	listEnd          = []byte(`</ol>`)
	countAttr        = []byte(`data-count="`)
	messageError     = []byte(`id="message-error"`)
)

// receiver is one open socket: it reads every frame and keeps its own
// tally, which only its read loop touches until done is closed.
type receiver struct {
	run      *runState
	idx      int // socket index, also its histogram shard
	room     int
	user     int
	sock     *client.Socket
	done     chan struct{}
	joinedAt time.Duration // since run start, when the handshake finished
	stalled  bool          // never read (-stalled): not counted as a receiver
	dropped  atomic.Int64  // since run start; 0 while open or closed by us

	seen       []uint64 // bitmap over message ids (measured and not)
	delivered  int64    // measured messages received once
	duplicates int64    // measured messages received again
	foreign    int64    // messages of this run from another room
	errFrames  int64    // message-error fragments (refused sends)
	snapshots  int64    // full member lists received (the first is the snapshot)
	frames     int64    // websocket messages received
	bytes      int64
	lastCount  int           // latest member count shown
	fullAt     time.Duration // since run start: member count first reached the room's size
	closeCode  int           // close code received, if the server closed
	readErr    string
	seqs       seqSeen       // message numbers seen, for the mix's reactions and edits
	lastSent   atomic.Uint64 // id+1 of the last post this socket sent
}

// bufs are read buffers shared by all receivers: an idle socket holds none.
var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLoop reads until the socket fails or is closed.
func (r *receiver) readLoop() {
	defer close(r.done)
	for {
		_, rd, err := r.sock.NextReader()
		if err != nil {
			r.fail(err)
			return
		}
		buf := bufs.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(rd)
		if err != nil {
			bufs.Put(buf)
			r.fail(err)
			return
		}
		r.handle(buf.Bytes(), r.run.since())
		if buf.Cap() <= 256<<10 {
			bufs.Put(buf)
		}
	}
}

// fail records why reading stopped, unless the run closed the socket.
func (r *receiver) fail(err error) {
	if r.run.closing.Load() {
		return
	}
	r.dropped.Store(int64(r.run.since()))
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		r.closeCode = ce.Code
	}
	if !errors.Is(err, io.EOF) {
		r.readErr = err.Error()
	}
	r.run.drops.Add(1)
}

// handle tallies one websocket message, which may join several frames.
func (r *receiver) handle(msg []byte, now time.Duration) {
	r.frames++
	r.bytes += int64(len(msg))
	rs := r.run
	// Messages listed in a snapshot are history, not deliveries.
	// A snapshot is the first frame queued to a socket, so it opens a
	// message: looking for it only there keeps every other message to
	// the scans it needs (the generator must stay cheaper than the server).
	skipFrom, skipTo := -1, -1
	if bytes.HasPrefix(msg, snapshotMessages) {
		skipFrom = 0
		skipTo = len(msg)
		if j := bytes.Index(msg, listEnd); j >= 0 {
			skipTo = j
		}
		if bytes.Contains(msg[skipTo:], snapshotMembers) {
			r.snapshots++
		}
	}
	if bytes.Contains(msg, messageError) {
		r.errFrames++
		rs.errFrames.Add(1)
	}
	marker := rs.marker
	for off := 0; ; {
		i := bytes.Index(msg[off:], marker)
		if i < 0 {
			break
		}
		i += off
		off = i + len(marker)
		if i >= skipFrom && i < skipTo {
			continue
		}
		id, sent, room, ok := parseMarker(msg[off:])
		if !ok || id >= uint64(len(rs.msgs)) {
			continue
		}
		measured := rs.measured(time.Duration(sent))
		if room != r.room {
			r.foreign++
			continue
		}
		if rs.cfg.mix.weights[kindReact]+rs.cfg.mix.weights[kindEdit] > 0 {
			r.seqs.noteSeq(msg, i, id+1 == r.lastSent.Load())
		}
		w, bit := id/64, uint64(1)<<(id%64)
		if r.seen == nil {
			r.seen = make([]uint64, (len(rs.msgs)+63)/64)
		}
		if r.seen[w]&bit != 0 {
			if measured {
				r.duplicates++
			}
			continue
		}
		r.seen[w] |= bit
		if since := time.Duration(sent) - rs.trafficAt; since >= 0 && since < 10*time.Second {
			rs.first.add(r.idx, now-time.Duration(sent))
		}
		if measured {
			r.delivered++
			rs.delivered.Add(1)
			rs.latency.add(r.idx, now-time.Duration(sent))
			if w := rs.window.Load(); w != nil {
				w.add(r.idx, now-time.Duration(sent))
			}
		}
	}
	// The member count, until it first reached the room's size (all that
	// is measured of it): the last one in the message is the newest
	// (bytes.LastIndex is a slow byte-by-byte search; Index is not).
	if r.fullAt > 0 {
		return
	}
	i := -1
	for off := 0; ; {
		j := bytes.Index(msg[off:], countAttr)
		if j < 0 {
			break
		}
		i = off + j
		off = i + len(countAttr)
	}
	if i >= 0 {
		rest := msg[i+len(countAttr):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			if n, err := strconv.Atoi(string(rest[:j])); err == nil {
				r.lastCount = n
				if r.fullAt == 0 && n >= rs.roomMembers[r.room] {
					r.fullAt = now
					rs.full.Add(1)
				}
			}
		}
	}
}

// parseMarker reads "ID SENT ROOM" (decimal) after a message marker:
// the message id, its send time in nanoseconds since the run began, and
// its room. The text carries them so that a receiver needs nothing from
// the sender but the frame.
func parseMarker(b []byte) (id uint64, sent int64, room int, ok bool) {
	var f [3]uint64
	for i := range f {
		if i > 0 {
			if len(b) == 0 || b[0] != ' ' {
				return 0, 0, 0, false
			}
			b = b[1:]
		}
		if f[i], b, ok = readUint(b); !ok {
			return 0, 0, 0, false
		}
	}
	return f[0], int64(f[1]), int(f[2]), true
}

func readUint(b []byte) (uint64, []byte, bool) {
	var n uint64
	i := 0
	for ; i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	return n, b[i:], i > 0
}
