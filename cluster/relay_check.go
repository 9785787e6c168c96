package cluster

import (
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Checking the links (docs/shared-rooms.md, "Relayed sockets that nobody
// serves"). What an owner sends to a relaying node crosses NATS at most
// once: a close it sent while NATS restarted, or while the relaying node
// was reconnecting, is lost, and the browser's socket would stay open on
// the relaying node with nothing reaching it, for ever if its member is
// idle. So each link (relay_link.go) numbers its messages: the owner's
// process id (its epoch) and a number that grows by one with each message
// to that node; and a link that carries nothing for beatEvery while it
// has sockets sends a heartbeat. The relaying node keeps, for each owner
// it relays sockets to, the epoch and the last number it saw, and closes
// with 1012 (its browsers reconnect and catch up from a snapshot) every
// socket it relays to that owner when
//
//   - a number is missing: something for one of them was lost;
//   - the epoch changes: the owner restarted, and the sockets joined to
//     its earlier process are unknown to it;
//
// And when nothing came from an owner for silentAfter (it died, is cut
// off, or no longer has any of this node's sockets: it forgot them, and
// their closes were lost), the relaying node asks it, in one message
// (opCheck) naming the sockets it relays to it, and the owner answers
// with a close (1012) for each it does not know. An owner that does not
// answer (dead, or cut off) is left to its lease: when the lease goes,
// Relays.OwnerChanged closes the sockets, and the room is claimable by
// then, so the browsers reconnecting find it.
//
// One small message per link and beatEvery when idle; nothing per socket.
// An owner of an older version numbers nothing and sends no heartbeat:
// its sockets are never checked (only a numbered message, or a join
// answer with an epoch, starts the checks). A relaying node of an older
// version does not ask for heartbeats (JoinRequest.Beats) and gets none;
// it ignores the numbers.

// opBeat is a link's heartbeat: no connection, no body. opCheck asks an
// owner which of the sockets its body names (encodeFrames, no frame) it
// does not know: it answers with a close for each.
const (
	opBeat  = "beat"
	opCheck = "check"
)

// beatEvery and silentAfter (variables for tests): an idle link with
// sockets beats this often; a relaying node that hears nothing from an
// owner for silentAfter asks it (opCheck) about the sockets it relays to
// it, and the owner closes those it no longer knows.
var (
	beatEvery   = time.Second
	silentAfter = 4 * time.Second
)

// holder is what a relaying node knows of an owner it relays sockets to.
type holder struct {
	conns int    // sockets relayed to it (in relays.relayed)
	epoch string // its process id, "" until known (never, for an older version)
	last  uint64 // the last number seen from it
	heard time.Time
}

// addLocked registers a socket relayed to an owner. r.mu must be held.
func (r *Relays) addLocked(rl *Relayed) {
	r.relayed[rl.id] = rl
	h := r.holders[rl.owner]
	if h == nil {
		h = &holder{}
		r.holders[rl.owner] = h
	}
	h.conns++
}

// removeLocked forgets a socket relayed to an owner, and the owner when it
// was the last. r.mu must be held.
func (r *Relays) removeLocked(rl *Relayed) {
	if r.relayed[rl.id] != rl {
		return
	}
	delete(r.relayed, rl.id)
	if h := r.holders[rl.owner]; h != nil {
		if h.conns--; h.conns <= 0 {
			delete(r.holders, rl.owner)
		}
	}
}

// answered records an owner's answer to a join: its epoch, and the
// number its link had reached before the socket's first message.
func (r *Relays) answered(rl *Relayed, a joinAnswer) {
	if a.Epoch == "" {
		return
	}
	r.mu.Lock()
	rl.epoch = a.Epoch
	h := r.holders[rl.owner]
	var stale []*Relayed
	if h != nil && h.epoch != a.Epoch {
		stale = r.staleLocked(rl.owner, a.Epoch)
		h.epoch, h.last = a.Epoch, a.Seq
	}
	if h != nil {
		h.heard = time.Now()
	}
	r.mu.Unlock()
	r.reconnect(stale, "the owner restarted")
}

// heard checks a numbered message from the owner whose conn subject is
// from ("epoch number"), and closes what it shows lost.
func (r *Relays) heard(from, numbered string) {
	epoch, n, ok := strings.Cut(numbered, " ")
	seq, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || epoch == "" {
		return
	}
	r.mu.Lock()
	h := r.holders[from]
	if h == nil {
		r.mu.Unlock()
		return // no socket relayed to it: nothing to check
	}
	var stale []*Relayed
	why := ""
	switch {
	case h.epoch != epoch:
		// Its first word to this node, or a new process.
		stale, why = r.staleLocked(from, epoch), "the owner restarted"
		h.epoch, h.last = epoch, seq
	case seq > h.last+1:
		stale, why = r.ofLocked(from), "messages from the owner were lost"
		h.last = seq
	case seq > h.last:
		h.last = seq
	}
	h.heard = time.Now()
	r.mu.Unlock()
	r.reconnect(stale, why)
}

// staleLocked returns the sockets relayed to the owner from that joined
// a process of it other than epoch. r.mu must be held.
func (r *Relays) staleLocked(from, epoch string) []*Relayed {
	var out []*Relayed
	for _, rl := range r.relayed {
		if rl.owner == from && rl.epoch != "" && rl.epoch != epoch {
			out = append(out, rl)
		}
	}
	return out
}

// ofLocked returns every socket relayed to the owner from. r.mu must be
// held.
func (r *Relays) ofLocked(from string) []*Relayed {
	var out []*Relayed
	for _, rl := range r.relayed {
		if rl.owner == from {
			out = append(out, rl)
		}
	}
	return out
}

// reconnect closes the sockets with 1012, telling their owner too (it may
// still serve them), as OwnerChanged does.
func (r *Relays) reconnect(socks []*Relayed, why string) {
	n := 0
	for _, rl := range socks {
		if rl.forget() {
			n++
			_ = rl.publish(opClose, nil, closeServiceRestart)
			rl.browser.Close(closeServiceRestart, reconnectReason)
		}
	}
	if n > 0 {
		r.log.Warn("NATS: relayed sockets close; they reconnect", "why", why, "sockets", n)
	}
}

// checkLinks, every beatEvery until closed is closed, sends a heartbeat
// on each idle link with sockets whose node asked for them, and closes
// the sockets relayed to an owner that was silent for silentAfter.
func (r *Relays) checkLinks(closed <-chan struct{}, beatEvery, silentAfter time.Duration) {
	t := time.NewTicker(beatEvery)
	defer t.Stop()
	for {
		select {
		case <-closed:
			return
		case <-t.C:
		}
		r.mu.Lock()
		var beat []*Link
		for _, l := range r.links {
			if l.sockets > 0 && l.beats.Load() {
				beat = append(beat, l)
			}
		}
		ask := make(map[string][]string)
		for from, h := range r.holders {
			if h.epoch != "" && time.Since(h.heard) > silentAfter {
				for _, rl := range r.ofLocked(from) {
					ask[from] = append(ask[from], rl.id)
				}
				h.heard = time.Now() // once per silence
			}
		}
		r.mu.Unlock()
		if !r.unnumbered.Load() {
			for _, l := range beat {
				l.beat()
			}
		}
		for from, ids := range ask {
			if len(ids) == 0 {
				continue
			}
			m := nats.NewMsg(from)
			m.Header.Set(headerOp, opCheck)
			m.Data = encodeFrames(ids, nil)
			m.Reply = connSubject(r.node)
			if err := r.conn.nc.PublishMsg(m); err != nil {
				r.log.Warn("NATS: a silent owner was not asked about its relayed sockets", "err", err)
			}
		}
	}
}

// gotCheck answers a relaying node's question about its sockets: a close
// (1012) for each this node does not know.
func (r *Relays) gotCheck(m *nats.Msg) {
	ids, _, err := decodeFrames(m.Data)
	if err != nil || m.Reply == "" {
		return
	}
	r.mu.Lock()
	var unknown []string
	for _, id := range ids {
		if r.remote[id] == nil {
			unknown = append(unknown, id)
		}
	}
	r.mu.Unlock()
	for _, id := range unknown {
		r.closeUnknown(m.Reply, id)
	}
	if len(unknown) > 0 {
		r.log.Info("NATS: a relaying node asked about sockets this node no longer serves; they close", "sockets", len(unknown))
	}
}

// beat queues a heartbeat if nothing was queued since the last check.
func (l *Link) beat() {
	l.mu.Lock()
	idle := !l.pushed
	l.pushed = false
	l.mu.Unlock()
	if idle {
		l.push(linkMsg{op: opBeat}, false)
		l.mu.Lock()
		l.pushed = false // a heartbeat is not traffic
		l.mu.Unlock()
	}
}
