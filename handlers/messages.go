package handlers

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/views"
)

// The message actions over HTTP: edit, delete and react, as forms that
// work without JavaScript, and as htmx posts from the message's own
// buttons (204: everyone's screen, the poster's included, changes through
// the socket). Without JavaScript each action has a page of its own, with
// the form and its CSRF token, since a message's markup (the same bytes
// for every viewer) cannot carry one; a GET there changes nothing.

// roomMessage reads the room and message number of the address and
// returns the message as the signed-in user may see it.
func (s *server) roomMessage(c *fiber.Ctx) (chat.Message, error) {
	slug := c.Params("slug")
	seq, ok := parseSeq(c.Params("seq"))
	if !validSlug(slug) {
		return chat.Message{}, fiber.ErrNotFound
	}
	if !ok {
		return chat.Message{}, chat.ErrNoMessage
	}
	return s.Rooms.MessageFor(slug, currentUser(c).ID, seq)
}

// editForm shows the form that edits a message, to its author only.
func (s *server) editForm(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err == nil && m.Author.ID != currentUser(c).ID {
		err = chat.ErrNotAuthor
	}
	if err != nil {
		return s.actionError(c, err)
	}
	return s.showEditForm(c, fiber.StatusOK, m, m.Text, "")
}

// showEditForm answers with the edit form holding text: alone for htmx,
// else on its page.
func (s *server) showEditForm(c *fiber.Ctx, status int, m chat.Message, text, problem string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if isHTMX(c) {
		return render(c, status, views.EditForm(csrfToken(c), m, text, problem, true))
	}
	return render(c, status, views.EditMessagePage(s.page(c, "Edit message"), m, text, problem))
}

// editMessage saves the new text of a message, by its author only, with
// the rules of posting; a refused text comes back in the form with why.
func (s *server) editMessage(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err != nil {
		return s.actionError(c, err)
	}
	typed := c.FormValue("message")
	text, err := s.editText(typed)
	if err != nil {
		var fe *fiber.Error
		if errors.As(err, &fe) && m.Author.ID == currentUser(c).ID {
			return s.showEditForm(c, fe.Code, m, typed, fe.Message)
		}
		return s.actionError(c, chat.ErrNotAuthor)
	}
	mentions, err := s.mentions(c.UserContext(), text)
	if err == nil {
		_, err = s.Rooms.Edit(m.Room, member(c), m.Seq, text, mentions...)
	}
	if err != nil {
		return s.actionError(c, err)
	}
	return s.actionDone(c, m)
}

// deletePage asks to confirm a deletion (the no-JavaScript path).
func (s *server) deletePage(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err != nil {
		return s.actionError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, fiber.StatusOK, views.DeleteMessagePage(s.page(c, "Delete message"), m))
}

// deleteMessage deletes a message, by its author, the room's owner or an
// admin.
func (s *server) deleteMessage(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err == nil {
		err = s.Rooms.Delete(m.Room, member(c), currentUser(c).IsAdmin, m.Seq)
	}
	if err != nil {
		return s.actionError(c, err)
	}
	return s.actionDone(c, m)
}

// reactPage offers the reactions (the no-JavaScript path), with the emoji
// typed in the message's own field (which sends it here) filled in.
func (s *server) reactPage(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err != nil {
		return s.actionError(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, fiber.StatusOK, views.ReactPage(s.page(c, "React"), m, c.Query("emoji"), ""))
}

// reactMessage toggles the user's reaction, one emoji, on a message.
func (s *server) reactMessage(c *fiber.Ctx) error {
	m, err := s.roomMessage(c)
	if err != nil {
		return s.actionError(c, err)
	}
	typed := c.FormValue("emoji")
	emoji, ok := oneEmoji(typed)
	if !ok {
		if isHTMX(c) {
			return s.actionError(c, chat.ErrNotEmoji)
		}
		return render(c, fiber.StatusUnprocessableEntity, views.ReactPage(s.page(c, "React"), m, typed, chat.ErrNotEmoji.Error()))
	}
	if _, err := s.Rooms.React(m.Room, member(c), m.Seq, emoji); err != nil {
		return s.actionError(c, err)
	}
	return s.actionDone(c, m)
}

// actionDone answers a done action: 204 to htmx, else back to the message.
func (s *server) actionDone(c *fiber.Ctx, m chat.Message) error {
	if isHTMX(c) {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/rooms/"+m.Room+"#"+views.MessageID(m.Seq), fiber.StatusSeeOther)
}

// actionError answers a refused action. A room the user may not see is
// an unknown address, as everywhere. To htmx, a refusal the user may read
// is the room's message-error fragment (out of band, nothing else
// swapped), with the status errorResponse gives; otherwise the error page.
func (s *server) actionError(c *fiber.Ctx, err error) error {
	if errors.Is(err, chat.ErrNoRoom) {
		return fiber.ErrNotFound
	}
	if r := s.errorResponse(err); isHTMX(c) && r.public {
		c.Set("HX-Reswap", "none")
		return render(c, r.status, views.MessageErrorFrame(r.text))
	}
	return err
}

// editText cleans an edited text like a posted one; an edit cannot empty
// a message (that is a deletion).
func (s *server) editText(typed string) (string, error) {
	text, problem := cleanMessage(typed, s.cfg.MaxMessage)
	if problem == "" && text == "" {
		problem = "A message needs some text; to remove it, delete it."
	}
	if problem != "" {
		return "", fiber.NewError(fiber.StatusUnprocessableEntity, problem)
	}
	return text, nil
}

// mentions looks up, in one query, the users text mentions (@name, any
// letter case; at most views.MaxMentions names), for chat to store with
// the message and notify.
func (s *server) mentions(ctx context.Context, text string) ([]chat.Member, error) {
	names := views.MentionNames(text)
	if len(names) == 0 {
		return nil, nil
	}
	users, err := s.DB.UsersByNames(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]chat.Member, len(users))
	for i, u := range users {
		out[i] = chat.Member{ID: u.ID, Name: u.Username}
	}
	return out, nil
}

// isHTMX reports whether htmx made the request.
func isHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }
