package views

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"natter/chat"
)

// statusText is the small label above an error page's heading.
func statusText(status int) string {
	return "Error " + strconv.Itoa(status)
}

func seqString(n uint64) string { return strconv.FormatUint(n, 10) }

func idString(n int64) string { return strconv.FormatInt(n, 10) }

// RoomTitle is how a room's name is shown: the pre-built rooms capitalised,
// user rooms as their slug.
func RoomTitle(slug string) string {
	switch slug {
	case "general":
		return "General"
	case "programming":
		return "Programming"
	}
	return slug
}

// messagePlaceholder is the message box's placeholder: it names the room
// unless the name would not fit one line of the box on a phone.
func messagePlaceholder(slug string) string {
	if t := RoomTitle(slug); utf8.RuneCountInString(t) <= 20 {
		return "Message #" + t
	}
	return "Message this room"
}

func roomDescription(r chat.RoomInfo) string {
	switch r.Slug {
	case "general":
		return "Everything and anything: say hello here."
	case "programming":
		return "Code, tools and the bugs that bite."
	}
	return "A room opened by a member of this server."
}

func memberCountText(n int) string {
	switch n {
	case 0:
		return "empty"
	case 1:
		return "1 member"
	}
	return strconv.Itoa(n) + " members"
}

// QuickReactions are the reactions offered with one click; any other
// emoji can be typed.
var QuickReactions = [...]string{"👍", "❤️", "😂", "🎉", "😮", "👀"}

// roomRoute is the address of route ("/ws", "/messages") of room slug as
// its page uses it: a private or direct room's carries ?private=1, the
// hint by which the server never opens the room anew from this page
// (after a restart ended it, it is refused as no longer existing, not
// brought back as a public room).
func roomRoute(slug, route string, room RoomAccess) string {
	if room.Private || room.Direct {
		return "/rooms/" + slug + route + "?private=1"
	}
	return "/rooms/" + slug + route
}

// MessagePath is the address of an action on message seq of room slug:
// "edit", "delete" or "reactions".
func MessagePath(slug string, seq uint64, action string) string {
	return "/rooms/" + slug + "/messages/" + seqString(seq) + "/" + action
}

func messagePath(m chat.Message, action string) string { return MessagePath(m.Room, m.Seq, action) }

// emojiVals is a reaction button's form: the emoji, as JSON for hx-vals.
func emojiVals(emoji string) string {
	b, _ := json.Marshal(map[string]string{"emoji": emoji})
	return string(b)
}

// reactorIDs lists the account ids of a reaction's users, comma-separated,
// for the page to find the viewer's own.
func reactorIDs(r chat.Reaction) string {
	ids := make([]string, len(r.By))
	for i, m := range r.By {
		ids[i] = idString(m.ID)
	}
	return strings.Join(ids, ",")
}

// reactorNames lists who chose a reaction: "ana, bo".
func reactorNames(r chat.Reaction) string {
	names := make([]string, len(r.By))
	for i, m := range r.By {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// typingText is the typing line for the names a view shows.
func typingText(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " is typing…"
	case 2:
		return names[0] + " and " + names[1] + " are typing…"
	}
	return "several people are typing…"
}
