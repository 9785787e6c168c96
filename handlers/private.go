package handlers

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
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
