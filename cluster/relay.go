package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Relayed sockets (docs/shared-rooms.md): a browser's socket for a room
// that another node owns is served by the node it reached, the relaying
// node, and joined to the room on the owner, where it is a connection like
// any other (a chat.Client) whose socket is a RemoteSocket: what chat
// writes to it is published to the relaying node, which hands it to the
// browser's socket (Browser); what the browser sends is published to the
// owner, where the RemoteSocket's reader returns it to chat.
//
// Subjects, per node (its name as a subject token, nodeToken):
//
//   - natter.node.<node>.join: requests to join a room this node owns on
//     behalf of a socket of the requesting node (a JoinRequest; the answer
//     is a joinAnswer);
//   - natter.node.<node>.conn: the traffic of relayed sockets in both
//     directions, each message naming its connection (headerConn) and
//     what it is (headerOp): a text frame, a ping, a pong or a close; or,
//     from an owner, a text frame for several connections, named in the
//     body (opFrames, relay_link.go).
//
// An owner sends everything for one relaying node's sockets through one
// Link (relay_link.go), in order: a frame a room fans out to several of
// them travels once, not once per socket.
//
// The owner's chat writer pings the remote connection as it pings a
// browser; the relaying node answers each ping with a pong, so a node
// that dies (or is cut off) is noticed by chat's read deadline like a
// dead browser, and its members then wait out their grace period.
//
// Core NATS keeps the order of one node's messages on a subject: the
// frames of a room reach every relaying node in the owner's order.

const (
	headerConn = "Natter-Conn"
	headerOp   = "Natter-Op"
	headerCode = "Natter-Code" // a close's code; its reason is the body
	// headerLink numbers what a link carries (relay_check.go): the
	// holder's process id, a space, the message's number on the link.
	headerLink = "Natter-Link"
)

// What a message on a conn subject is.
const (
	opText  = "text"
	opPing  = "ping"
	opPong  = "pong"
	opClose = "close"
)

// Websocket message types and close codes, as chat numbers them (chat's
// Socket interface uses these numbers; cluster does not import chat).
const (
	textMessage  = 1
	closeMessage = 8
	pingMessage  = 9
	pongMessage  = 10

	closePolicyViolation = 1008
	closeServiceRestart  = 1012
	closeInternalError   = 1011
)

// floodReason is the close reason of a relayed socket that sent more than
// its owner could read (as chat's for a flood).
const floodReason = "Too many messages too fast."

// reconnectReason is the close reason of a relayed socket whose
// connection the other node no longer knows: the browser reconnects and
// joins the room again, wherever its owner is now.
const reconnectReason = "Reconnecting to the other servers."

// inboundQueue is how many frames from the browser may wait for the
// owner's reader of one remote connection; a relaying node that sends
// more (chat reads them as they come) is dropped.
const inboundQueue = 64

// JoinRequest asks a room's owner to join a member's socket that the
// relaying node Node serves.
type JoinRequest struct {
	// Conn names the connection in every message about it: unique in the
	// cluster, made by the relaying node.
	Conn string `json:"conn"`
	// Node is the relaying node's name.
	Node string `json:"node"`
	// Room is the room's slug.
	Room string `json:"room"`
	// MemberID and MemberName are the member's, as the relaying node
	// signed them in.
	MemberID   int64  `json:"member_id"`
	MemberName string `json:"member_name"`
	// Session is a hash of the member's session id (never the id, which
	// would sign anyone in): the tag by which the session's sockets are
	// closed.
	Session string `json:"session"`
	// Frames says that the relaying node takes a frame for several
	// sockets in one message (opFrames); a node that does not say so (an
	// older version, during an upgrade) gets one message per socket.
	Frames bool `json:"frames,omitempty"`
	// Private is the room page's hint that it showed a private (or
	// direct) room: the owner then never creates the room for this join
	// (chat.Registry.JoinRemotePrivate), and refuses it if the room does
	// not exist. It can only make the owner stricter, so it is safe to
	// take from the relaying node (and from the browser before it). A
	// node that does not send it (an older version, during an upgrade)
	// gets the join of a public room's page, as before.
	Private bool `json:"private,omitempty"`
	// Beats says that the relaying node checks the link's numbers and
	// wants its heartbeats (relay_check.go).
	Beats bool `json:"beats,omitempty"`
}

// joinAnswer is the owner's answer to a JoinRequest: Code 0 when the
// socket joined, else the close code and reason of the refusal. Epoch and
// Seq (from an owner that numbers its links) are its process's id and
// the number of the last message its link to the relaying node carried
// before this socket's first.
type joinAnswer struct {
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	Epoch  string `json:"epoch,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
}

// Refused is the error of a join the owner refused: the browser's socket
// is to be closed with Code and Reason, as if this node had refused it.
type Refused struct {
	Code   int
	Reason string
}

func (r *Refused) Error() string { return fmt.Sprintf("refused (%d): %s", r.Code, r.Reason) }

// CloseCode is the close code and reason for the browser's socket.
func (r *Refused) CloseCode() (int, string) { return r.Code, r.Reason }

// JoinFunc joins a relayed socket to a room this node owns: on success it
// has started serving sock (chat's Serve, in a goroutine of its own, which
// calls sock.Close when Serve returns) and returns nil; else it returns
// a *Refused (or another error, told to the browser as an internal
// error). It is called on the subscription's goroutine and must not
// block for long.
type JoinFunc func(req JoinRequest, sock *RemoteSocket) error

// Browser is the browser's socket on the relaying node, as the relay
// writes to it. Neither method may block.
type Browser interface {
	// Frame queues a message from the owner to the browser.
	Frame(data []byte)
	// Close closes the browser's socket with code and reason: the owner
	// closed the connection.
	Close(code int, reason string)
}

// Relays carries this node's relayed sockets: those it serves for rooms
// other nodes own (Relayed), and those other nodes serve for rooms it owns
// (RemoteSocket). Its methods are safe for concurrent use.
type Relays struct {
	conn   *Conn
	node   string
	onJoin JoinFunc
	log    *slog.Logger
	prefix string // starts this process's connection ids
	next   atomic.Uint64

	epoch string // this process's id on its links (relay_check.go)
	// For tests (export_test.go): unnumbered makes this node number
	// nothing and send no heartbeat, as an older version; lose makes its
	// links lose that many messages (numbered, never published).
	unnumbered atomic.Bool
	lose       atomic.Int64

	mu      sync.Mutex
	remote  map[string]*RemoteSocket // sockets of other nodes in rooms owned here
	relayed map[string]*Relayed      // sockets here in rooms owned elsewhere
	links   map[string]*Link         // to the nodes of remote, by conn subject
	holders map[string]*holder       // the owners of relayed, by conn subject
}

// NewRelays subscribes the node named node to its join requests and its
// relayed sockets' traffic; onJoin joins the sockets other nodes relay
// to rooms owned here (nil refuses them all). The subscriptions are known
// to the server when it returns, and end when conn closes.
func NewRelays(conn *Conn, node string, onJoin JoinFunc, log *slog.Logger) (*Relays, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	r := &Relays{
		conn: conn, node: node, onJoin: onJoin, log: log,
		prefix:  node + "/" + hex.EncodeToString(b[:]) + "/",
		epoch:   hex.EncodeToString(b[:]),
		remote:  make(map[string]*RemoteSocket),
		relayed: make(map[string]*Relayed),
		links:   make(map[string]*Link),
		holders: make(map[string]*holder),
	}
	token := nodeToken(node)
	if _, err := conn.nc.Subscribe("natter.node."+token+".join", r.gotJoin); err != nil {
		return nil, fmt.Errorf("NATS: subscribing to join requests: %w", err)
	}
	if _, err := conn.nc.Subscribe(connSubject(node), r.gotConn); err != nil {
		return nil, fmt.Errorf("NATS: subscribing to relayed sockets: %w", err)
	}
	if err := conn.nc.FlushTimeout(checkTimeout); err != nil {
		return nil, fmt.Errorf("NATS: subscribing to relayed sockets: %w", err)
	}
	go r.checkLinks(conn.closed, beatEvery, silentAfter)
	return r, nil
}

// Conns counts the relayed sockets: those of other nodes in rooms owned
// here, and those here in rooms owned elsewhere.
func (r *Relays) Conns() (remote, relayed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.remote), len(r.relayed)
}

// nodeToken is node's name as a subject token: as it is when it is made
// of letters, digits, - and _, else "~" and its bytes in hex (a host name
// has dots).
func nodeToken(node string) string {
	for _, c := range node {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "~" + hex.EncodeToString([]byte(node))
		}
	}
	return node
}

func connSubject(node string) string { return "natter.node." + nodeToken(node) + ".conn" }

// natsMsg is one message about connection id for the node whose conn
// subject is subject.
func natsMsg(subject, id, op string, data []byte, code int) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(headerConn, id)
	m.Header.Set(headerOp, op)
	if code != 0 {
		m.Header.Set(headerCode, strconv.Itoa(code))
	}
	m.Data = data
	return m
}

// gotConn delivers a message about one relayed socket, in either
// direction. One about a connection this node does not know (it ended
// here, or this node restarted) closes it on the other side.
func (r *Relays) gotConn(m *nats.Msg) {
	id, op := m.Header.Get(headerConn), m.Header.Get(headerOp)
	if n := m.Header.Get(headerLink); n != "" && m.Reply != "" {
		r.heard(m.Reply, n)
	}
	switch op {
	case opBeat:
		return
	case opCheck:
		r.gotCheck(m)
		return
	}
	if op == opFrames {
		r.gotFrames(m)
		return
	}
	r.mu.Lock()
	rs, rl := r.remote[id], r.relayed[id]
	r.mu.Unlock()
	switch {
	case rs != nil:
		rs.got(op, m.Data)
	case rl != nil:
		rl.got(op, m.Data, m.Header.Get(headerCode))
	case op != opClose && m.Reply != "":
		// Unknown here: whoever sent it ends it (publishReply gives the
		// sender's conn subject as Reply). A close is never answered.
		r.closeUnknown(m.Reply, id)
	}
}

// gotJoin answers another node's request to join a socket to a room
// owned here.
func (r *Relays) gotJoin(m *nats.Msg) {
	answer := joinAnswer{}
	var req JoinRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Conn == "" || req.Node == "" || checkSlug(req.Room) != nil || req.MemberID <= 0 {
		r.log.Warn("NATS: a bad join request", "err", err)
		answer = joinAnswer{Code: closeInternalError, Reason: "Internal error."}
	} else {
		answer = r.join(req)
	}
	body, _ := json.Marshal(answer)
	if err := m.Respond(body); err != nil {
		r.log.Warn("NATS: a join request was not answered", "room", req.Room, "err", err)
	}
}

// join joins the socket req names through onJoin.
func (r *Relays) join(req JoinRequest) joinAnswer {
	if r.onJoin == nil {
		return joinAnswer{Code: closeServiceRestart, Reason: reconnectReason}
	}
	s := &RemoteSocket{
		relays: r, id: req.Conn,
		in:   make(chan inbound, inboundQueue),
		wake: make(chan struct{}, 1),
		gone: make(chan struct{}),
	}
	r.mu.Lock()
	if r.remote[req.Conn] != nil {
		r.mu.Unlock()
		return joinAnswer{Code: closeInternalError, Reason: "Internal error."}
	}
	s.link = r.linkFor(connSubject(req.Node))
	s.link.frames.Store(req.Frames)
	s.link.beats.Store(req.Beats)
	s.link.sockets++
	r.remote[req.Conn] = s
	r.mu.Unlock()
	// What the link carries from here on is this socket's, or after it.
	base := s.link.sent.Load()
	err := r.onJoin(req, s)
	if err == nil {
		if r.unnumbered.Load() || !req.Beats {
			return joinAnswer{} // as before, for a node that does not check
		}
		return joinAnswer{Epoch: r.epoch, Seq: base}
	}
	s.Close()
	var refused *Refused
	if errors.As(err, &refused) {
		return joinAnswer{Code: refused.Code, Reason: refused.Reason}
	}
	r.log.Error("NATS: joining a relayed socket", "room", req.Room, "err", err)
	return joinAnswer{Code: closeInternalError, Reason: "Internal error."}
}

// Join asks owner, the node that owns room req.Room, to join the member's
// socket that this node serves as browser; req.Conn and req.Node are filled
// in, and req.Session is the session's id, which travels hashed. Once it
// returns, the owner's frames (the room's snapshot first) go to browser,
// and the browser's go through the returned Relayed. A refusal is a
// *Refused.
func (r *Relays) Join(ctx context.Context, owner string, req JoinRequest, browser Browser) (*Relayed, error) {
	if err := checkSlug(req.Room); err != nil {
		return nil, err
	}
	req.Conn = r.prefix + strconv.FormatUint(r.next.Add(1), 10)
	req.Node = r.node
	req.Session = sessionKey(req.Session)
	req.Frames = true
	req.Beats = true
	rl := &Relayed{relays: r, id: req.Conn, room: req.Room, ownerNode: owner, owner: connSubject(owner), browser: browser}
	// Registered before asking: the owner's first frames may come before
	// its answer, on another subject.
	r.mu.Lock()
	r.addLocked(rl)
	r.mu.Unlock()
	body, err := json.Marshal(req)
	if err == nil {
		var m *nats.Msg
		if m, err = r.conn.nc.RequestWithContext(ctx, "natter.node."+nodeToken(owner)+".join", body); err == nil {
			var a joinAnswer
			switch err = json.Unmarshal(m.Data, &a); {
			case err != nil:
			case a.Code != 0:
				err = &Refused{Code: a.Code, Reason: a.Reason}
			default:
				r.answered(rl, a)
				return rl, nil
			}
		}
	}
	r.mu.Lock()
	r.removeLocked(rl)
	r.mu.Unlock()
	var refused *Refused
	if errors.As(err, &refused) {
		return nil, err
	}
	return nil, fmt.Errorf("NATS: joining room %s on node %s: %w", req.Room, owner, err)
}

// OwnerChanged closes, with 1012, every socket relayed from here to room
// slug on a node other than owner, the room's owner now ("" when it has
// none): Owners' OnOwner. The owner died, stopped or lost the room, and
// the browsers reconnect and join the room again wherever it is held now.
// The old owner is told, in case it still serves them. It returns how
// many were closed.
func (r *Relays) OwnerChanged(slug, owner string) int {
	r.mu.Lock()
	var stale []*Relayed
	for _, rl := range r.relayed {
		if rl.room == slug && rl.ownerNode != owner {
			stale = append(stale, rl)
		}
	}
	r.mu.Unlock()
	n := 0
	for _, rl := range stale {
		if rl.forget() {
			n++
			_ = rl.publish(opClose, nil, closeServiceRestart)
			rl.browser.Close(closeServiceRestart, reconnectReason)
		}
	}
	return n
}

// closeUnknown answers a message about socket id, which this node does
// not know (any more), with a close (1012): its node ends the browser's
// socket, which reconnects.
func (r *Relays) closeUnknown(reply, id string) {
	_ = r.conn.nc.PublishMsg(natsMsg(reply, id, opClose, []byte(reconnectReason), closeServiceRestart))
}
