package cluster

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Tap calls f with the subject and body of every user event, as they
// cross NATS, until stop is called.
func Tap(c *Conn, f func(subject string, data []byte)) (stop func()) {
	sub, err := c.nc.Subscribe("natter.user.>", func(m *nats.Msg) { f(m.Subject, m.Data) })
	if err != nil {
		panic(err)
	}
	if err := c.nc.Flush(); err != nil {
		panic(err)
	}
	return func() { _ = sub.Unsubscribe() }
}

// Kill closes c's connection at once, as a node killed with SIGKILL
// would: nothing is flushed, released or drained.
func Kill(c *Conn) { c.nc.Close() }

// DecodeFrames returns the relayed sockets and the frame of a message
// that carries a frame for several of them (Natter-Op "frames").
func DecodeFrames(data []byte) (conns []string, frame []byte, err error) {
	return decodeFrames(data)
}

// SetLinkBytes sets the bytes of frames that may wait on a link, until
// the test ends.
func SetLinkBytes(t interface{ Cleanup(func()) }, n int) {
	old := linkBytes
	linkBytes = n
	t.Cleanup(func() { linkBytes = old })
}

// HoldLink keeps r's link to node from publishing, as a publisher that
// cannot keep up would, until release is called.
func HoldLink(r *Relays, node string) (release func()) {
	r.mu.Lock()
	l := r.linkFor(connSubject(node))
	r.mu.Unlock()
	for {
		l.mu.Lock()
		if !l.running {
			l.running = true
			l.mu.Unlock()
			return func() { go l.publisher() }
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// LoseLinkMessages makes r's links lose the next n messages: numbered,
// never published, as NATS may lose them while it restarts.
func LoseLinkMessages(r *Relays, n int64) { r.lose.Store(n) }

// AsOlderVersion makes r number nothing on its links and send no
// heartbeat, as a node of an earlier version. Call it before any join.
func AsOlderVersion(r *Relays) { r.unnumbered.Store(true) }

// SetLinkChecks sets the heartbeat's period and the silence that closes
// relayed sockets, until the test ends. Set it before the nodes start.
func SetLinkChecks(t interface{ Cleanup(func()) }, beat, silent time.Duration) {
	oldBeat, oldSilent := beatEvery, silentAfter
	beatEvery, silentAfter = beat, silent
	t.Cleanup(func() { beatEvery, silentAfter = oldBeat, oldSilent })
}

// SweepOnce runs one round of the sweep of orphaned histories, as Sweep
// does every opts.Every, and returns the rooms it purged.
func (o *Owners) SweepOnce(h *History, opts SweepOptions) ([]string, error) {
	return o.sweepOnce(h, opts)
}
