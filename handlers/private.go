package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/db"
	"natter/views"
)

// Private rooms: invitation links and their renewal. Whoever a private
// room does not admit gets the answer of a room that does not exist (the
// 404 of an unknown address), whatever they ask of it.

// joinPage answers an invitation link with a page whose button admits the
// user (joinRoom): opening a link changes nothing, so a link shown on
// another site, or fetched by a preview, admits nobody. A wrong or ended
// token is a 404, as for a room that does not exist; a member goes
// straight to the room.
func (s *server) joinPage(c *fiber.Ctx) error {
	slug, token, id := c.Params("slug"), c.Params("token"), currentUser(c).ID
	if !validSlug(slug) || !s.Rooms.InviteValid(slug, id, token) {
		return fiber.ErrNotFound
	}
	if !s.Rooms.Barred(slug, id) {
		return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
	}
	return render(c, fiber.StatusOK, views.JoinRoomPage(s.page(c, "Join #"+views.RoomTitle(slug)), slug, token))
}

// joinRoom admits the signed-in user to the private room for its life.
func (s *server) joinRoom(c *fiber.Ctx) error {
	slug := c.Params("slug")
	if !validSlug(slug) || !s.Rooms.AdmitByInvite(slug, currentUser(c).ID, c.Params("token")) {
		return fiber.ErrNotFound
	}
	return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
}

// newInvite gives a private room a new invitation link, which ends the
// old one; only its owner may.
func (s *server) newInvite(c *fiber.Ctx) error {
	slug := c.Params("slug")
	if !validSlug(slug) {
		return fiber.ErrNotFound
	}
	if _, err := s.Rooms.NewInvite(slug, currentUser(c).ID); err != nil {
		return roomError(err)
	}
	return c.Redirect("/rooms/"+slug+"?invite=new", fiber.StatusSeeOther)
}

// removeMember takes a member out of the room for its life, by its owner
// or an admin; chat closes their sockets with 1008 and the reason.
func (s *server) removeMember(c *fiber.Ctx) error {
	slug := c.Params("slug")
	id, ok := idParam(c.Params("id"))
	if !validSlug(slug) || !ok {
		return fiber.ErrNotFound
	}
	u := currentUser(c)
	if err := s.Rooms.Remove(slug, u.ID, u.IsAdmin, id); err != nil {
		return roomError(err)
	}
	s.Log.Info("member removed", "room", slug, "user", id, "by", u.ID)
	if c.Get("HX-Request") == "true" {
		return c.SendStatus(fiber.StatusNoContent) // the socket tells the list
	}
	return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
}

// directMessage opens the direct room of the signed-in user and the user
// named in the form (the same room while it lives), and sends there. The
// other user, if connected anywhere, gets a notice linking to it when the
// room is new. From htmx (the member list's Message button) it answers 204
// with HX-Redirect.
func (s *server) directMessage(c *fiber.Ctx) error {
	me := currentUser(c)
	name := strings.TrimSpace(c.FormValue("username"))
	other, err := s.DB.UserByLogin(c.UserContext(), name)
	switch {
	case errors.Is(err, db.ErrNotFound) || (err == nil && (db.FoldKey(other.Username) != db.FoldKey(name) || other.Disabled())):
		// By user name only: an address typed here tells nothing.
		return fiber.NewError(fiber.StatusUnprocessableEntity, "There is no user called "+name+".")
	case err != nil:
		return err
	case other.ID == me.ID:
		return fiber.NewError(fiber.StatusUnprocessableEntity, "A direct message needs someone else: pick another member.")
	}
	if done, err := s.onOwner(c, chat.DirectSlug(me.ID, other.ID)); done {
		return err
	}
	from := chat.Member{ID: me.ID, Name: me.Username}
	slug, created, err := s.Rooms.Direct(from, chat.Member{ID: other.ID, Name: other.Username})
	if err != nil {
		return roomError(err)
	}
	if created {
		// Rendered once, queued to each of their connections.
		s.Users.SendUser(other.ID, renderBytes(views.DirectNoticeFrame(me.Username, slug)))
	}
	if c.Get("HX-Request") == "true" {
		c.Set("HX-Redirect", "/rooms/"+slug)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
}

// roomError answers a refusal of a room action: ErrNoRoom as an unknown
// address, ErrNotOwner as 403 with its text; the rest as errorResponse
// says.
func roomError(err error) error {
	switch {
	case errors.Is(err, chat.ErrNoRoom):
		return fiber.ErrNotFound
	case errors.Is(err, chat.ErrNotOwner), errors.Is(err, chat.ErrRemoveSelf):
		return fiber.NewError(fiber.StatusForbidden, err.Error())
	}
	return err
}
