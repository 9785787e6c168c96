// Package cluster joins a Natter node to the other nodes through NATS
// (NATTER_NATS_URL): one connection per node, made by Connect, and the
// user events that travel over it (users.go).
//
// What travels today, over NATS core subjects (at most once, in the order
// one node published them; nothing is stored):
//
//   - a user's sessions ending (sign-out, a password changed or reset, an
//     admin disabling the account): every other node closes that user's
//     sockets at once, with the close code and reason the node that acted
//     used, rather than within its periodic session check (30 s);
//   - a frame for a user wherever they are (a direct-message or mention
//     notice), rendered once by the node where it happened and queued as
//     the same bytes to the user's sockets on every other node.
//
// Rooms are being made to travel (docs/shared-rooms.md); what exists so
// far is not wired into the server yet, so each node's rooms are still its
// own:
//
//   - room ownership (owners.go): one owner node per room, holding it
//     with a lease in the JetStream key-value bucket natter_rooms (memory
//     storage), renewed, released on stop, and watched by every node;
//   - room history (history.go): each room's entries, latest state of
//     each, in the JetStream stream natter_history (memory storage),
//     stored before a post is acknowledged, bounded per room, loaded by a
//     new owner, purged when the room is destroyed;
//   - relayed sockets (relay.go, relay_conn.go): a browser's socket on one
//     node joined to a room another node owns, over core NATS subjects of
//     each node (natter.node.<node>.join and .conn).
//
// The connection checks that JetStream is on, which these need.
//
// The node's connection does not receive what it published itself (NATS's
// no-echo option): the node that acts delivers to its own sockets
// directly, so nothing arrives twice.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// connectTimeout bounds each attempt to reach a NATS server, at start
	// and when reconnecting.
	connectTimeout = 5 * time.Second
	// checkTimeout bounds the JetStream check at start.
	checkTimeout = 5 * time.Second
	// closeTimeout bounds the drain at shutdown: what was published is
	// flushed to the server within it, or dropped.
	closeTimeout = 5 * time.Second
	// writeTimeout bounds each write to the server: a server that stops
	// reading (a partition, a frozen process) is taken as lost after it,
	// and the client reconnects, holding what is published meanwhile.
	writeTimeout = 2 * time.Second
	// pingEvery and pingsOut: the client pings the server this often, and
	// takes it as lost (and reconnects) when this many pings are
	// unanswered, so that a server that stops answering with the
	// connection open (a partition) is noticed within 10 to 15 s rather
	// than nats.go's 4 to 6 minutes.
	pingEvery = 5 * time.Second
	pingsOut  = 2
	// queued is how many events wait for the sender at most; more are
	// dropped (and logged), never waited for.
	queued = 1024
	// firstRetry and lastRetry bound the wait between rounds of reconnect
	// attempts: it doubles from the first to the last, and stays there,
	// forever; a fifth more or less at random, so that nodes cut off
	// together do not come back in step.
	firstRetry = 100 * time.Millisecond
	lastRetry  = 2 * time.Second
)

// Conn is a node's connection to NATS.
type Conn struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger
	closed chan struct{} // closed when the connection is closed for good
	// out holds what publish queued for send, the one goroutine that
	// writes to the server: a write that waits (a server that stopped
	// reading) then holds up no request. stop ends send, which closes
	// sent.
	out      chan *nats.Msg
	stop     chan struct{}
	stopOnce sync.Once
	sent     chan struct{}

	mu          sync.Mutex
	reconnected []func() // called after each reconnection (onReconnect)
}

// Connect connects to the NATS servers at urls (one URL or several
// separated by commas) as the node named node, and checks that JetStream
// is on. It fails, with one line naming the servers (their passwords
// hidden), when none answers or JetStream is off; once connected it
// reconnects forever by itself, and log says, once each, when the
// connection is lost, back, or closed.
func Connect(ctx context.Context, urls, node string, log *slog.Logger) (*Conn, error) {
	name := Redact(urls)
	c := &Conn{log: log, closed: make(chan struct{}),
		out: make(chan *nats.Msg, queued), stop: make(chan struct{}), sent: make(chan struct{})}
	var once sync.Once
	nc, err := nats.Connect(urls,
		nats.Name(node),
		nats.NoEcho(),
		nats.Timeout(connectTimeout),
		nats.FlusherTimeout(writeTimeout),
		nats.PingInterval(pingEvery),
		nats.MaxPingsOutstanding(pingsOut),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			// Called once per loss, not for each failed attempt after it.
			log.Warn("NATS disconnected: reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
			c.mu.Lock()
			hooks := slices.Clone(c.reconnected)
			c.mu.Unlock()
			for _, f := range hooks {
				go f() // they talk to the server: not on the client's callback goroutine
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			once.Do(func() { close(c.closed) })
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("NATS %s: cannot connect: %v", name, err)
	}
	c.nc = nc
	if err := c.checkJetStream(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS %s: %w", name, err)
	}
	log.Info("NATS connected", "server", nc.ConnectedUrlRedacted(), "server_name", nc.ConnectedServerName())
	go c.send()
	return c, nil
}

// publish queues m for the sender and returns at once; when the queue is
// full (the server has not read for a while), m is dropped and logged.
func (c *Conn) publish(m *nats.Msg) {
	select {
	case <-c.stop:
		c.log.Warn("NATS: a user event was not published: the connection is closing", "subject", m.Subject)
		return
	default:
	}
	select {
	case c.out <- m:
	default:
		c.log.Warn("NATS: a user event was dropped: too many wait for the server", "subject", m.Subject)
	}
}

// send publishes what is queued, in order, until Close; then what is
// still queued, and ends.
func (c *Conn) send() {
	defer close(c.sent)
	for {
		select {
		case m := <-c.out:
			c.write(m)
		case <-c.stop:
			for {
				select {
				case m := <-c.out:
					c.write(m)
				default:
					return
				}
			}
		}
	}
}

func (c *Conn) write(m *nats.Msg) {
	if err := c.nc.PublishMsg(m); err != nil {
		c.log.Warn("NATS: a user event was not published", "subject", m.Subject, "err", err)
	}
}

// checkJetStream asks the server for this account's JetStream usage,
// which only a server with JetStream on answers.
func (c *Conn) checkJetStream(ctx context.Context) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	c.js = js
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return errors.New("JetStream is not enabled on that server (start nats-server with -js, or jetstream {} in its configuration)")
	case err != nil:
		return fmt.Errorf("cannot check JetStream: %v", err)
	}
	return nil
}

// onReconnect has f called (in a goroutine of its own) each time the
// connection comes back after a loss: what lives in the server's memory
// (the buckets and streams of memory storage) may be gone if the server
// restarted, and f makes it again.
func (c *Conn) onReconnect(f func()) {
	c.mu.Lock()
	c.reconnected = append(c.reconnected, f)
	c.mu.Unlock()
}

// reconnectDelay is the wait before reconnect round n (from 1).
func reconnectDelay(n int) time.Duration {
	d := lastRetry
	if n < 8 && firstRetry<<n < lastRetry {
		d = firstRetry << n
	}
	return d + time.Duration(rand.Int64N(int64(d)/5*2)) - d/5
}

// Ready says whether the node is connected to NATS now: nil, or an error
// saying it is not (then /readyz answers 503).
func (c *Conn) Ready() error {
	if s := c.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("NATS %s", strings.ToLower(s.String()))
	}
	return nil
}

// Stats are what an operator watches of the connection.
type Stats struct {
	Connected         bool
	Reconnects        uint64
	MsgsIn, MsgsOut   uint64
	BytesIn, BytesOut uint64
}

// Stats reads the connection's counts since the start.
func (c *Conn) Stats() Stats {
	st := c.nc.Stats()
	return Stats{
		Connected:  c.nc.Status() == nats.CONNECTED,
		Reconnects: st.Reconnects,
		MsgsIn:     st.InMsgs, MsgsOut: st.OutMsgs,
		BytesIn: st.InBytes, BytesOut: st.OutBytes,
	}
}

// Close sends what was published but not yet sent, stops the
// subscriptions and closes the connection, waiting at most closeTimeout
// for each.
func (c *Conn) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	select {
	case <-c.sent:
	case <-time.After(closeTimeout):
	}
	if err := c.nc.Drain(); err != nil {
		// Not connected (or already closed): nothing can be flushed.
		c.nc.Close()
	}
	select {
	case <-c.closed:
	case <-time.After(closeTimeout):
		c.nc.Close()
		<-c.closed
	}
	c.log.Info("NATS connection closed")
	return nil
}

// Redact hides the passwords and tokens of a list of NATS URLs, for logs
// and errors.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, one := range parts {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		if u.User != nil {
			if _, ok := u.User.Password(); !ok {
				// nats://TOKEN@host: the user part is the secret.
				u.User = url.User("xxxxx")
			}
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
