package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nats-io/nats.go"
)

// The subjects of user events. Every node subscribes to both; what one
// node publishes, every other node acts on.
const (
	// subjectFrame carries a frame for one user's sockets: the frame's
	// bytes as the body, the user's id in headerUser.
	subjectFrame = "natter.user.frame"
	// subjectClose carries the end of a user's or a session's sockets: a
	// closing, JSON, as the body.
	subjectClose = "natter.user.close"

	subjectAll = "natter.user.*"

	headerUser = "Natter-User"
	headerNode = "Natter-Node" // the publisher, for the log of a bad event
)

// Local is what a node does to its own sockets of a user: the room
// registry's methods (chat.Registry).
type Local interface {
	SendUser(id int64, frame []byte) int
	CloseUser(userID int64, keepSession string, code int, reason string)
	CloseSession(session string, code int, reason string)
	Sessions() []string
}

// Users reaches a user's sockets on every node: each method acts on this
// node's sockets at once, then publishes the event for the other nodes,
// whose Users act on theirs when it arrives (within milliseconds on a
// LAN). Publishing never blocks a request: events are queued for the
// connection's sender (see Conn.publish); while NATS is away, they wait in
// the connection's buffer and go when it is back.
type Users struct {
	conn  *Conn
	local Local
	node  string
	log   *slog.Logger
}

// closing is the body of a subjectClose event: either every socket of
// User except those of Keep, or every socket of Session. Sessions travel
// as sessionKey, never as the ids that sign a browser in.
type closing struct {
	User    int64  `json:"user,omitempty"`
	Keep    string `json:"keep,omitempty"`
	Session string `json:"session,omitempty"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
}

// NewUsers subscribes the node named node to the user events of the
// other nodes, which it applies to local. The subscriptions are known to
// the server when it returns, and end when conn closes.
func NewUsers(conn *Conn, local Local, node string, log *slog.Logger) (*Users, error) {
	u := &Users{conn: conn, local: local, node: node, log: log}
	// One subscription for both subjects, so that events are applied in
	// the order their node published them.
	if _, err := conn.nc.Subscribe(subjectAll, u.got); err != nil {
		return nil, fmt.Errorf("NATS: subscribing to %s: %w", subjectAll, err)
	}
	if err := conn.nc.FlushTimeout(checkTimeout); err != nil {
		return nil, fmt.Errorf("NATS: subscribing to user events: %w", err)
	}
	return u, nil
}

// SendUser queues frame to every socket of user id on this node and
// publishes it for the other nodes; it returns how many sockets here took
// it.
func (u *Users) SendUser(id int64, frame []byte) int {
	n := u.local.SendUser(id, frame)
	u.RelayUser(id, frame)
	return n
}

// RelayUser publishes frame for user id's sockets on the other nodes only
// (the registry sent it here itself: chat.Registry.RelayNotices).
func (u *Users) RelayUser(id int64, frame []byte) {
	m := nats.NewMsg(subjectFrame)
	m.Header.Set(headerUser, strconv.FormatInt(id, 10))
	m.Header.Set(headerNode, u.node)
	m.Data = frame
	u.publish(m)
}

// CloseUser closes every socket of userID except those of keepSession,
// here and on the other nodes.
func (u *Users) CloseUser(userID int64, keepSession string, code int, reason string) {
	u.local.CloseUser(userID, keepSession, code, reason)
	keep := ""
	if keepSession != "" {
		keep = sessionKey(keepSession)
	}
	u.publishClose(closing{User: userID, Keep: keep, Code: code, Reason: reason})
}

// CloseSession closes every socket of session, here and on the other
// nodes.
func (u *Users) CloseSession(session string, code int, reason string) {
	u.local.CloseSession(session, code, reason)
	u.publishClose(closing{Session: sessionKey(session), Code: code, Reason: reason})
}

func (u *Users) publishClose(c closing) {
	body, err := json.Marshal(c)
	if err != nil {
		u.log.Error("NATS: encoding a user event", "err", err)
		return
	}
	m := nats.NewMsg(subjectClose)
	m.Header.Set(headerNode, u.node)
	m.Data = body
	u.publish(m)
}

func (u *Users) publish(m *nats.Msg) { u.conn.publish(m) }

// got applies another node's event.
func (u *Users) got(m *nats.Msg) {
	switch m.Subject {
	case subjectFrame:
		u.gotFrame(m)
	case subjectClose:
		u.gotClose(m)
	default:
		u.log.Debug("NATS: an event of an unknown kind (a newer node?)", "subject", m.Subject, "from", m.Header.Get(headerNode))
	}
}

// gotFrame queues another node's frame to the user's sockets here, as it
// came.
func (u *Users) gotFrame(m *nats.Msg) {
	id, err := strconv.ParseInt(m.Header.Get(headerUser), 10, 64)
	if err != nil || id <= 0 {
		u.log.Warn("NATS: a user frame without a user", "from", m.Header.Get(headerNode))
		return
	}
	u.local.SendUser(id, m.Data)
}

// gotClose closes the sockets here that another node's event names.
func (u *Users) gotClose(m *nats.Msg) {
	var c closing
	if err := json.Unmarshal(m.Data, &c); err != nil || (c.User > 0) == (c.Session != "") || c.Code == 0 {
		u.log.Warn("NATS: a bad user event", "from", m.Header.Get(headerNode), "err", err)
		return
	}
	// The sessions named are found among those with sockets here.
	var keep, session string
	for _, sid := range u.local.Sessions() {
		switch sessionKey(sid) {
		case c.Keep:
			keep = sid
		case c.Session:
			session = sid
		}
	}
	switch {
	case c.User > 0:
		// A kept session with no socket here leaves nothing to keep.
		u.local.CloseUser(c.User, keep, c.Code, c.Reason)
	case session != "":
		u.local.CloseSession(session, c.Code, c.Reason)
	}
}

// sessionKey is what names a session in an event: a hash of its id, so
// that what crosses NATS cannot sign anyone in.
func sessionKey(session string) string {
	sum := sha256.Sum256([]byte(session))
	return hex.EncodeToString(sum[:])
}
