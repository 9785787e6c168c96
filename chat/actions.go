package chat

import (
	"slices"
)

// The message actions: edit, delete, react. Each finds the message in the
// room's history by its number, checks who asks, stores a changed copy
// (re-charged its rendered size, see ring.replace) and tells every
// connection with one frame.

// MaxReactionKinds caps the different emoji on one message, so that a
// message's reactions (and the history's bytes) stay small.
const MaxReactionKinds = 20

// Edit replaces the text of message seq in room slug by text (mentions as
// for Post), on behalf of its author m; every connection gets the message
// again, marked edited. Users newly mentioned get Post's notice. Errors:
// ErrClosed, ErrNoRoom (no such room, or it bars m), ErrNoMessage,
// ErrNotAuthor and ErrEditRateLimited.
func (r *Registry) Edit(slug string, m Member, seq uint64, text string, mentions ...Member) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	return r.edit(rm, m, seq, text, mentions)
}

// Edit is Registry.Edit in the client's room, by the client's member.
func (c *Client) Edit(seq uint64, text string, mentions ...Member) (Message, error) {
	if c.reg.isClosed() {
		return Message{}, ErrClosed
	}
	return c.reg.edit(c.room, c.member, seq, text, mentions)
}

func (r *Registry) edit(rm *room, m Member, seq uint64, text string, mentions []Member) (Message, error) {
	rm.mu.Lock()
	i, msg, err := r.findLocked(rm, m, seq)
	if err == nil && msg.Author.ID != m.ID {
		err = ErrNotAuthor
	}
	if err == nil && !r.allowAction(m.ID, actEdit, r.cfg.Now()) {
		err = ErrEditRateLimited
	}
	if err != nil {
		rm.mu.Unlock()
		return Message{}, err
	}
	before := msg.Mentions
	msg.Text, msg.Mentions, msg.Edited = text, mentions, true
	if err := r.storeLocked(rm, msg); err != nil {
		rm.mu.Unlock()
		return Message{}, err
	}
	r.updateLocked(rm, i, msg)
	n := r.mentionNoticeLocked(rm, msg, before)
	rm.mu.Unlock()
	r.sendNotice(n)
	return msg, nil
}

// Delete deletes message seq of room slug on behalf of by: its author,
// the room's owner (the creator of a user room) or, with admin set, an
// admin. The text, mentions and reactions are gone from the history at
// once; every connection gets the tombstone. Errors: ErrClosed, ErrNoRoom
// (no such room, or it bars by), ErrNoMessage and ErrCannotDelete.
func (r *Registry) Delete(slug string, by Member, admin bool, seq uint64) error {
	rm, err := r.lookup(slug)
	if err != nil {
		return err
	}
	return r.delete(rm, by, admin, seq)
}

// Delete is Registry.Delete in the client's room, by the client's member;
// admin says whether they are an admin.
func (c *Client) Delete(seq uint64, admin bool) error {
	if c.reg.isClosed() {
		return ErrClosed
	}
	return c.reg.delete(c.room, c.member, admin, seq)
}

func (r *Registry) delete(rm *room, by Member, admin bool, seq uint64) error {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	i, msg, err := r.findLocked(rm, by, seq)
	if err != nil {
		return err
	}
	owner := !rm.permanent && rm.creator == by.ID
	if msg.Author.ID != by.ID && !owner && !admin {
		return ErrCannotDelete
	}
	msg.Text, msg.Mentions, msg.Reactions, msg.Deleted = "", nil, nil, true
	if err := r.storeLocked(rm, msg); err != nil {
		return err
	}
	frame := r.render.Update(rm.slug, msg)
	frames := [][]byte{frame}
	kept := rm.history.replace(i, msg, len(frame), 0)
	// The next message, grouped under this one, now shows its author.
	if j := i + 1; kept && j < len(rm.history.buf) {
		if next := rm.history.at(j); next.Continued {
			next.Continued = false
			// Stored as well as can be: the deletion is, and a node taking
			// the room over at worst groups the next one under it.
			_ = r.storeLocked(rm, next)
			f := r.render.Update(rm.slug, next)
			_, react := rm.history.sizes(j)
			rm.history.replace(j, next, len(f), react)
			frames = append(frames, f)
		}
	}
	rm.changed()
	r.fanoutLocked(rm, frames...)
	rm.forgetOldFrames()
	return nil
}

// React toggles m's reaction emoji on message seq of room slug: added if
// m had not chosen it, else taken away. The handler checks that emoji is
// one emoji. Every connection gets the message's reactions. Errors:
// ErrClosed, ErrNoRoom, ErrNoMessage, ErrTooManyEmoji and
// ErrReactRateLimited.
func (r *Registry) React(slug string, m Member, seq uint64, emoji string) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	return r.react(rm, m, seq, emoji)
}

// React is Registry.React in the client's room, by the client's member.
func (c *Client) React(seq uint64, emoji string) (Message, error) {
	if c.reg.isClosed() {
		return Message{}, ErrClosed
	}
	return c.reg.react(c.room, c.member, seq, emoji)
}

func (r *Registry) react(rm *room, m Member, seq uint64, emoji string) (Message, error) {
	if emoji == "" {
		return Message{}, ErrNotEmoji
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	i, msg, err := r.findLocked(rm, m, seq)
	if err != nil {
		return Message{}, err
	}
	reactions, ok := toggled(msg.Reactions, emoji, m)
	if !ok {
		return Message{}, ErrTooManyEmoji
	}
	if !r.allowAction(m.ID, actReact, r.cfg.Now()) {
		return Message{}, ErrReactRateLimited
	}
	msg.Reactions = reactions
	if err := r.storeLocked(rm, msg); err != nil {
		return Message{}, err
	}
	frame := r.render.Reactions(rm.slug, msg)
	size, react := rm.history.sizes(i)
	rm.history.replace(i, msg, size-react+len(frame), len(frame))
	rm.changed()
	r.fanoutLocked(rm, frame)
	return msg, nil
}

// toggled returns a new list of reactions with m's emoji added, or taken
// away if m had chosen it (an emoji nobody has chosen any more goes). It
// reports false if the emoji is new and the message holds
// MaxReactionKinds already. rs is left as it was.
func toggled(rs []Reaction, emoji string, m Member) ([]Reaction, bool) {
	i := slices.IndexFunc(rs, func(x Reaction) bool { return x.Emoji == emoji })
	if i < 0 {
		if len(rs) >= MaxReactionKinds {
			return nil, false
		}
		return append(slices.Clip(rs), Reaction{Emoji: emoji, By: []Member{m}}), true
	}
	out := slices.Clone(rs)
	by := rs[i].By
	if j := slices.IndexFunc(by, func(x Member) bool { return x.ID == m.ID }); j >= 0 {
		by = slices.Delete(slices.Clone(by), j, j+1)
	} else {
		by = append(slices.Clip(by), m)
	}
	if len(by) == 0 {
		return slices.Delete(out, i, i+1), true
	}
	out[i].By = by
	return out, true
}

// findLocked returns the index in rm's history of text message seq, and
// the message, for user m: ErrNoRoom if the room died or bars m,
// ErrNoMessage if the history holds no such text message (or it was
// deleted). rm.mu must be held.
func (r *Registry) findLocked(rm *room, m Member, seq uint64) (int, Message, error) {
	if rm.dead || rm.barredLocked(m.ID) {
		return -1, Message{}, ErrNoRoom
	}
	i := rm.history.find(seq)
	if i < 0 {
		return -1, Message{}, ErrNoMessage
	}
	msg := rm.history.at(i)
	if msg.Kind != KindText || msg.Deleted {
		return -1, Message{}, ErrNoMessage
	}
	return i, msg, nil
}

// updateLocked stores msg at index i of rm's history and tells every
// connection. rm.mu must be held.
func (r *Registry) updateLocked(rm *room, i int, msg Message) {
	frame := r.render.Update(rm.slug, msg)
	_, react := rm.history.sizes(i)
	rm.history.replace(i, msg, len(frame), react)
	rm.changed()
	r.fanoutLocked(rm, frame)
	rm.forgetOldFrames()
}

// forgetOldFrames drops the shared snapshot and the delta log after an
// edit or a deletion: both may hold the old text, which no joiner may get
// any more, even to be replaced at once. The next joiner renders a
// snapshot of the history as it is. rm.mu must be held.
func (rm *room) forgetOldFrames() {
	rm.snap = nil
	rm.resetDeltas()
}

// MessageFor returns text message seq of room slug for user id, who must
// not be barred from the room (ErrNoRoom): for the pages that edit,
// delete or react without JavaScript. ErrNoMessage if the history holds no
// such message (or it was deleted).
func (r *Registry) MessageFor(slug string, id int64, seq uint64) (Message, error) {
	rm, err := r.lookup(slug)
	if err != nil {
		return Message{}, err
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	_, msg, err := r.findLocked(rm, Member{ID: id}, seq)
	return msg, err
}
