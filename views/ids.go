// Package views holds Natter's templ components: full pages (names ending in
// Page), the fragments the socket sends, and e-mail bodies. Views get their
// data as arguments; they never query the database or read the request.
package views

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// DOM ids that pages, socket fragments and tests agree on. Ids never come
// from text a user typed: htmx swaps socket fragments by id, so a room named
// "messages" must not be able to hijack the message list.
const (
	IDMessages     = "messages"
	IDMembers      = "members"
	IDMemberCount  = "member-count"
	IDMessageError = "message-error"
	IDMessageForm  = "message-form"
	IDRoomList     = "room-list"
	IDConnState    = "conn-state"
	IDNotices      = "notices" // where notices to the user (a direct message) appear
)

// MessageID is the element id of the message with sequence number seq.
func MessageID(seq uint64) string { return "msg-" + strconv.FormatUint(seq, 10) }

// MemberID is the element id of a member in the member list.
func MemberID(userID int64) string { return "member-" + strconv.FormatInt(userID, 10) }

// RoomCardID is the element id of a room's card in the lobby: a hash of the
// slug, so the id is server-made whatever the name.
func RoomCardID(slug string) string {
	h := sha256.Sum256([]byte(slug))
	return "room-" + hex.EncodeToString(h[:6])
}

// dmVals is the member list's Message button's form: the member's name,
// as JSON for hx-vals.
func dmVals(name string) string {
	b, _ := json.Marshal(map[string]string{"username": name})
	return string(b)
}

// IDTyping is the room's typing line.
const IDTyping = "typing"

// ReactionsID is the element id of the reactions of message seq.
func ReactionsID(seq uint64) string { return "reactions-" + strconv.FormatUint(seq, 10) }

// EditFormID is the element id of the form that edits message seq.
func EditFormID(seq uint64) string { return "edit-" + strconv.FormatUint(seq, 10) }
