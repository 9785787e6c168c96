package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/views"
)

// The frames a room page sends over its socket (htmx's ws extension: the
// form's fields as JSON, plus HEADERS, which we ignore: the sender is the
// session's user). One frame is one of:
//
//	{"typing": "1"}                     I am typing (never posts, whatever else it holds)
//	{"edit": "12", "message": "..."}    edit message 12 (its author only; 12 may be a number)
//	{"delete": "12"}                    delete message 12 (author, room owner, admin)
//	{"react": "12", "emoji": "👍"}      toggle the sender's reaction
//	{"message": "..."}                  post
//
// A refusal comes back to the sender only, as the message-error fragment;
// it never closes the socket (a flood of refusals does, see chat.Serve).

// wsFrame is a frame's fields; a missing field is nil. typing may hold any
// value (DESIGN.md): its presence is the signal.
type wsFrame struct {
	Message *string         `json:"message"`
	Typing  json.RawMessage `json:"typing"`
	Edit    *frameSeq       `json:"edit"`
	Delete  *frameSeq       `json:"delete"`
	React   *frameSeq       `json:"react"`
	Emoji   *string         `json:"emoji"`
}

// frameSeq is a message number in a frame: a string, as htmx sends a
// form's fields, or a JSON number, as a script would write it.
type frameSeq string

func (f *frameSeq) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*f = frameSeq(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*f = frameSeq(s)
	return nil
}

// frameTimeout bounds the database look-ups one frame makes (mentions,
// the sender's admin flag).
const frameTimeout = 5 * time.Second

// handleFrame does what one frame asks, or tells its sender why not. It
// reports whether a rate limit refused it; only the first refusal in a
// row is answered, so a flood gets one error fragment, not one per frame.
func (s *server) handleFrame(client *chat.Client, data []byte, refusedBefore int) bool {
	var f wsFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return s.refuse(client, errUnreadable, refusedBefore)
	}
	ctx, cancel := context.WithTimeout(context.Background(), frameTimeout)
	defer cancel()
	var err error
	switch {
	case len(f.Typing) > 0:
		err = client.Typing()
	case f.Edit != nil:
		err = s.editFrame(ctx, client, string(*f.Edit), f.Message)
	case f.Delete != nil:
		err = s.deleteFrame(ctx, client, string(*f.Delete))
	case f.React != nil:
		err = s.reactFrame(client, string(*f.React), f.Emoji)
	case f.Message != nil:
		err = s.postFrame(ctx, client, *f.Message)
	default:
		err = errUnreadable
	}
	if err == nil {
		return false
	}
	return s.refuse(client, err, refusedBefore)
}

// errUnreadable answers a frame that is not one of the above.
var errUnreadable = fiber.NewError(fiber.StatusBadRequest, "This message could not be read; reload the page and try again.")

func (s *server) postFrame(ctx context.Context, client *chat.Client, message string) error {
	text, problem := cleanMessage(message, s.cfg.MaxMessage)
	if problem != "" {
		return fiber.NewError(fiber.StatusUnprocessableEntity, problem)
	}
	if text == "" {
		return nil
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return err
	}
	_, err = client.Post(text, mentions...)
	return err
}

func (s *server) editFrame(ctx context.Context, client *chat.Client, seqText string, message *string) error {
	seq, ok := parseSeq(seqText)
	if !ok {
		return chat.ErrNoMessage
	}
	if message == nil {
		return errUnreadable
	}
	text, err := s.editText(*message)
	if err != nil {
		return err
	}
	mentions, err := s.mentions(ctx, text)
	if err != nil {
		return err
	}
	_, err = client.Edit(seq, text, mentions...)
	return err
}

func (s *server) deleteFrame(ctx context.Context, client *chat.Client, seqText string) error {
	seq, ok := parseSeq(seqText)
	if !ok {
		return chat.ErrNoMessage
	}
	// Whether the sender is an admin now, not when the socket opened.
	u, err := s.DB.UserByID(ctx, client.Member().ID)
	if err != nil {
		return err
	}
	return client.Delete(seq, u.IsAdmin)
}

func (s *server) reactFrame(client *chat.Client, seqText string, emoji *string) error {
	seq, ok := parseSeq(seqText)
	if !ok {
		return chat.ErrNoMessage
	}
	if emoji == nil {
		return chat.ErrNotEmoji
	}
	e, ok := oneEmoji(*emoji)
	if !ok {
		return chat.ErrNotEmoji
	}
	_, err := client.React(seq, e)
	return err
}

// refuse tells the sender of a frame why it was refused, and reports
// whether a rate limit refused it. A flood of typing signals is dropped
// without a word: the page never sends them so fast.
func (s *server) refuse(client *chat.Client, err error, refusedBefore int) bool {
	r := s.errorResponse(err)
	if r.status == fiber.StatusTooManyRequests {
		if refusedBefore == 0 && !errors.Is(err, chat.ErrTypingRateLimited) {
			client.Send(renderBytes(views.MessageErrorFrame(r.text)))
		}
		return true
	}
	if !r.public {
		s.Log.Error("socket frame", "err", err, "room", client.Room(), "user", client.Member().ID)
		r.text = "That did not work; try again in a moment."
	}
	client.Send(renderBytes(views.MessageErrorFrame(r.text)))
	return false
}

// parseSeq reads a message number from a frame or an address.
func parseSeq(s string) (uint64, bool) {
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil && seq > 0
}
