package chat

import "slices"

// Mention notices: a user mentioned in a room where they have no
// connection is told in the rooms where they have one.

// notice is a frame for some users' connections, sent after the room lock
// is released (their connections are in other rooms, whose locks come
// after none of ours).
type notice struct {
	frame []byte
	to    []int64
}

// mentionNoticeLocked works out who must hear of msg's mentions: each
// user it mentions who was not mentioned before (an edit's old mentions),
// is not its author, has no connection in rm and is not barred from it.
// The notice is rendered once for all of them. rm.mu must be held.
func (r *Registry) mentionNoticeLocked(rm *room, msg Message, before []Member) notice {
	var to []int64
	for _, u := range msg.Mentions {
		if u.ID == msg.Author.ID || rm.barredLocked(u.ID) || slices.ContainsFunc(before, func(b Member) bool { return b.ID == u.ID }) {
			continue
		}
		if mem := rm.members[u.ID]; mem != nil && mem.conns > 0 {
			continue // they see it here
		}
		to = append(to, u.ID)
	}
	if len(to) == 0 {
		return notice{}
	}
	return notice{frame: r.render.Mentioned(rm.slug, msg), to: to}
}

// sendNotice queues n to every connection of its users, and hands it to
// the relay for their connections on other nodes. No room lock may be
// held.
func (r *Registry) sendNotice(n notice) {
	for _, id := range n.to {
		r.SendUser(id, n.frame)
		if r.relay != nil {
			r.relay(id, n.frame)
		}
	}
}

// RelayNotices hands every notice the registry sends to a user by itself
// (mention notices) to relay as well, which carries the frame to the
// user's connections on the other nodes (package cluster). Call it once,
// before the registry is used.
func (r *Registry) RelayNotices(relay func(userID int64, frame []byte)) { r.relay = relay }
