package handlers

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/views"
)

// member is the signed-in user as a room member.
func member(c *fiber.Ctx) chat.Member {
	u := currentUser(c)
	return chat.Member{ID: u.ID, Name: u.Username}
}

// lobby lists the rooms with a form to open one.
func (s *server) lobby(c *fiber.Ctx) error {
	p := s.page(c, "Rooms")
	if currentUser(c).IsAdmin {
		// The first admin is told, while theirs is the only account, where
		// to invite the others and set how people sign up.
		n, err := s.DB.CountUsers(c.UserContext())
		if err != nil {
			return err
		}
		p.AdminWelcome = n == 1
	}
	return render(c, fiber.StatusOK, views.LobbyPage(p, s.roomsFor(c), views.Form{}))
}

// roomList is the lobby's self-refreshing list of rooms.
func (s *server) roomList(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return render(c, fiber.StatusOK, views.RoomList(s.roomsFor(c)))
}

// createRoom turns a typed name into a slug and opens the room (a private
// one with private=1), or shows the lobby again with the name kept and
// what is wrong with it (a room cap, in the registry's words). A name held
// by a private room the user is not in is "not available", as a private
// room asked for a name in use is: what a name in use shows anyway, and
// nothing of the room.
func (s *server) createRoom(c *fiber.Ctx) error {
	name := c.FormValue("name")
	private := c.FormValue("private") == "1"
	slug, problem := roomSlug(name)
	if problem == "" && strings.HasPrefix(slug, chat.DirectPrefix) {
		problem = "Names starting with " + chat.DirectPrefix + " are kept for direct messages; choose another."
	}
	if problem == "" {
		if done, err := s.onOwner(c, slug); done {
			return err
		}
		var err error
		if private {
			err = s.Rooms.EnsurePrivate(slug, member(c))
		} else {
			err = s.Rooms.Ensure(slug, member(c))
		}
		if err == nil {
			return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
		}
		if errors.Is(err, chat.ErrNoRoom) {
			err = chat.ErrNameTaken
		}
		r := s.errorResponse(err)
		if !r.public {
			return err
		}
		problem = r.text
	}
	f := views.Form{Values: map[string]string{"name": name}, Errors: map[string]string{"name": problem}}
	if private {
		f.Values["private"] = "1"
	}
	return render(c, fiber.StatusUnprocessableEntity, views.LobbyPage(s.page(c, "Rooms"), s.roomsFor(c), f))
}

// roomPage shows a room that lives (the permanent ones always do). A GET
// creates nothing: for a room that is not open it answers a page whose
// button opens it with a POST, so a link on another site cannot make
// rooms for whoever follows it.
func (s *server) roomPage(c *fiber.Ctx) error {
	slug := c.Params("slug")
	if !validSlug(slug) {
		if canon, problem := roomSlug(slug); problem == "" {
			return c.Redirect("/rooms/"+canon, fiber.StatusMovedPermanently)
		}
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	// A private room that does not admit the user is answered as a room
	// that does not exist, byte for byte.
	v, ok := s.Rooms.RoomFor(slug, currentUser(c).ID)
	if !ok {
		return render(c, fiber.StatusNotFound, views.RoomClosedPage(s.page(c, "#"+views.RoomTitle(slug)), slug))
	}
	p := s.page(c, "#"+views.RoomTitle(slug))
	p.FullHeight = true
	share := s.link("/rooms/" + slug)
	if v.Invite != "" {
		share = s.link("/rooms/" + slug + "/join/" + v.Invite)
	}
	room := views.RoomAccess{Private: v.Private, Direct: v.Direct, With: v.With.Name, Owner: v.Owner == currentUser(c).ID}
	return render(c, fiber.StatusOK, views.RoomPage(p, slug, share, room, v.History, v.Members))
}

// postMessage posts a message without a socket: a plain form (redirect back
// to the room) or htmx and scripts (204). A public room that does not
// exist is opened (a private room's form, ?private=1, never opens one).
// The poster becomes a member without a connection
// (chat.Registry.PostVisitor), so the others see who wrote. A refused
// message gets a page that says why (errorResponse: 429 for the rate
// limit, 422 for the registry's other refusals).
func (s *server) postMessage(c *fiber.Ctx) error {
	slug := c.Params("slug")
	if !validSlug(slug) {
		return fiber.ErrNotFound
	}
	text, problem := cleanMessage(c.FormValue("message"), s.cfg.MaxMessage)
	if problem != "" {
		return fiber.NewError(fiber.StatusUnprocessableEntity, problem)
	}
	if text != "" {
		mentions, err := s.mentions(c.UserContext(), text)
		switch {
		case err != nil:
		case c.Query("private") == "1":
			// The private room page's form says so on its action, as its
			// socket does (socketInfo.private, and as safe to trust): the
			// room is not created, and a public one of that name is not
			// posted to.
			_, err = s.Rooms.PostVisitorPrivate(slug, member(c), text, mentions...)
		default:
			if err = s.Rooms.Ensure(slug, member(c)); err == nil {
				_, err = s.Rooms.PostVisitor(slug, member(c), text, mentions...)
			}
		}
		if errors.Is(err, chat.ErrNoRoom) {
			return fiber.ErrNotFound // a private room's outsider, or a room just gone
		}
		if err != nil {
			return err // errorHandler answers it through errorResponse
		}
	}
	if c.Get("HX-Request") == "true" {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect("/rooms/"+slug, fiber.StatusSeeOther)
}
