package handlers

import (
	"context"
	"log/slog"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"natter/chat"
)

// Shared rooms (docs/shared-rooms.md): with several nodes, each room is
// held by one node, its owner, whose registry has it. A request for a room
// another node holds is answered by that node (Forward), and a socket to
// it is relayed there (Relay); the owner serves relayed sockets with
// ServeRemote.

// Shared reaches the rooms other nodes hold. Deps.Shared is nil on one
// node.
type Shared interface {
	// Claim returns "" when room slug is held here (taken over, with what
	// its last owner stored, if no node held it), else the name of the
	// node that holds it.
	Claim(ctx context.Context, slug string) (owner string, err error)
	// Forward has node owner answer ctx's request, whose answer it
	// writes to ctx's response.
	Forward(ctx *fasthttp.RequestCtx, owner string) error
	// Relay joins client, a connection of Registry.Relay for member m
	// with session tag session, to room slug on node owner: what the
	// owner sends is queued to client, and its close closes it. With
	// private (the page's hint, socketInfo.private) the owner joins as
	// Registry.JoinPrivate does, never creating the room. send passes a
	// frame from the browser to the owner; end is called once the socket
	// ended. A refusal is a *chat.Error or an error with a close code
	// (RelayRefusal).
	Relay(ctx context.Context, owner, slug string, private bool, m chat.Member, session string, client *chat.Client) (send func([]byte) error, end func(), err error)
	// RoomsFor is Registry.RoomsFor over every node's rooms.
	RoomsFor(ctx context.Context, id int64) []chat.RoomInfo
}

// roomsFor lists the rooms the signed-in user sees in the lobby, on every
// node.
func (s *server) roomsFor(c *fiber.Ctx) []chat.RoomInfo {
	if s.Shared != nil {
		return s.Shared.RoomsFor(c.UserContext(), currentUser(c).ID)
	}
	return s.Rooms.RoomsFor(currentUser(c).ID)
}

// RelayRefusal is the close code and reason of a relayed join the owner
// refused (Shared.Relay's error may implement it).
type RelayRefusal interface {
	CloseCode() (int, string)
}

// localForwarded marks (a fasthttp user value) a request another node
// forwarded here, which must not travel again.
const localForwarded = "natter-forwarded"

// errMoving is the answer when the room could not be reached where it
// is held.
var errMoving = fiber.NewError(fiber.StatusServiceUnavailable, "This room cannot be reached right now; try again in a moment.")

// onOwner answers c's request on the node that holds room slug when it is
// not this one, and reports whether it did (then err is the handler's
// result).
func (s *server) onOwner(c *fiber.Ctx, slug string) (done bool, err error) {
	if s.Shared == nil || !validSlug(slug) {
		return false, nil
	}
	owner, err := s.Shared.Claim(c.UserContext(), slug)
	if err != nil {
		s.Log.Warn("room claim failed", "room", slug, "err", err)
		return true, errMoving
	}
	if owner == "" {
		return false, nil
	}
	if forwarded, _ := c.Context().UserValue(localForwarded).(bool); forwarded {
		return true, errMoving // it moved meanwhile: the browser tries again
	}
	if err := s.Shared.Forward(c.Context(), owner); err != nil {
		s.Log.Warn("room request not forwarded", "room", slug, "owner", owner, "err", err)
		return true, errMoving
	}
	return true, nil
}

// roomHeld is the middleware of the routes of one room (:slug): they are
// answered where the room is held.
func (s *server) roomHeld(c *fiber.Ctx) error {
	if done, err := s.onOwner(c, c.Params("slug")); done {
		return err
	}
	return c.Next()
}

// ServeForwarded answers a request that another node forwarded here, the
// room's owner.
func (a *App) ServeForwarded(ctx *fasthttp.RequestCtx) {
	ctx.SetUserValue(localForwarded, true)
	a.Handler()(ctx)
}

// ServeRemote serves a socket that another node relays to a room held
// here (its connection made by Registry.JoinRemote) as any socket, and
// returns when it ended.
func (a *App) ServeRemote(client *chat.Client, sock chat.Socket, room string) {
	s := a.srv
	defer func() {
		if r := recover(); r != nil {
			s.Log.Error("relayed socket panic", "room", room, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	reason := client.Serve(sock, func(text []byte, refusedBefore int) bool {
		return s.handleFrame(client, text, refusedBefore)
	})
	s.Log.Log(context.Background(), slog.LevelInfo, "relayed socket disconnected", "room", room, "reason", reason)
}
