package handlers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gofiber/fiber/v2"

	"natter/chat"
	"natter/password"
)

// TestErrorResponse pins the one mapping of errors to answers: the status
// a page or form gets, the close code a socket gets, and whether the
// user reads the error's own text.
func TestErrorResponse(t *testing.T) {
	s := &server{} // no database: none of these is a write fault
	tests := []struct {
		err    error
		status int
		close  int
		text   string
		public bool
	}{
		{chat.ErrRateLimited, 429, 1013, "You are sending messages too fast; wait a moment and try again.", true},
		{fmt.Errorf("post: %w", chat.ErrRateLimited), 429, 1013, "You are sending messages too fast; wait a moment and try again.", true},
		{chat.ErrClosed, 422, 1012, "The server is restarting; try again in a moment.", true},
		{chat.ErrTooManyRooms, 422, 1013, "This server has too many rooms open; try again later.", true},
		{chat.ErrTooManyRoomsForUser, 422, 1008, "You have too many rooms open; wait for one to close before making another.", true},
		{chat.ErrTooManyConnections, 422, 1008, "You have too many chat windows open; close one and try again.", true},
		{chat.ErrNotMember, 422, 1008, "You are not in this room; reload the page to join it.", true},
		{chat.ErrNoRoom, 422, 1008, "This room no longer exists.", true},
		{password.ErrBusy, 503, 1013, msgBusy, false},
		{fiber.NewError(fiber.StatusUnauthorized, "Sign in first."), 401, 1008, "Sign in first.", true},
		{fiber.ErrNotFound, 404, 1008, "There is nothing at this address. Check the link, or start again from the rooms.", true},
		{fiber.NewError(fiber.StatusBadGateway, "upstream said no"), 502, 1011, "Please try again in a moment.", false},
		{errors.New("SELECT went wrong"), 500, 1011, "The error has been logged. Please try again in a moment.", false},
	}
	for _, tt := range tests {
		r := s.errorResponse(tt.err)
		if r.status != tt.status || r.close != tt.close || r.text != tt.text || r.public != tt.public {
			t.Errorf("errorResponse(%v) = %d, %d, %q, %v; want %d, %d, %q, %v",
				tt.err, r.status, r.close, r.text, r.public, tt.status, tt.close, tt.text, tt.public)
		}
	}
}
