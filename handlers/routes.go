package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/assets"
	"natter/db"
)

// routes is the whole HTTP surface of Natter, in one screen.
func (s *server) routes(app *fiber.App) {
	app.Use(requestIDs())
	if s.Observe != nil {
		app.Use(s.observeRequests)
	}
	app.Use(s.logRequests, recoverPanics())
	app.Get(assets.Prefix+"*", s.Assets.Handler())
	app.Get("/healthz", healthz(s.DB))
	app.Get("/readyz", readyz(s))

	app.Use(s.securityHeaders(), s.sameOrigin, s.loadUser, s.csrfProtection())

	app.Get("/", s.home)
	app.Get("/register", noStore, s.registerForm)
	app.Post("/register", noStore, s.limit(10, time.Hour, false, byIP("register")), s.register)
	app.Get("/login", noStore, s.loginForm)
	app.Post("/login", noStore,
		s.limit(20, 15*time.Minute, true, byIP("login")),
		s.limit(5, 15*time.Minute, true, s.byAccount),
		s.login)
	app.Post("/logout", s.logout)

	app.Get("/password/forgot", noStore, s.forgotForm)
	app.Post("/password/forgot", noStore, s.forgot)
	app.Get("/password/reset/:token", noStore, s.limit(30, 15*time.Minute, false, byIP("reset")), s.resetStart)
	app.Post("/password/reset/:token", noStore, s.limit(30, 15*time.Minute, false, byIP("reset")), s.reset)

	app.Get("/account", requireUser, noStore, s.accountPage)
	app.Post("/account", requireUser, noStore, s.limit(10, 15*time.Minute, true, byIP("account")), s.account)

	app.Get("/rooms", requireUser, noStore, lobby(s))
	app.Post("/rooms", requireUser, s.limit(30, time.Minute, false, byIP("create-room")), createRoom(s))
	app.Get("/rooms/list", requireUser, roomList(s.Rooms))
	app.Get("/rooms/:slug", requireUser, roomPage(s))
	app.Get("/rooms/:slug/ws", s.limit(600, time.Minute, false, byIP("ws")), s.socketGate, s.roomSocket())
	app.Post("/rooms/:slug/messages", requireUser, postMessage(s))

	app.Use(notFound)
}

// healthz answers 200 while the database answers a query.
func healthz(d *db.DB) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := d.Ping(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable\n")
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.SendString("ok\n")
	}
}

// readyz answers 200 while this node should get new work: the database
// answers and the node is not draining. From SIGTERM on it answers 503,
// so a proxy moves new requests and sockets to another node first.
func readyz(s *server) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		if s.draining.Load() {
			return c.Status(fiber.StatusServiceUnavailable).SendString("draining\n")
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := s.DB.Ping(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable\n")
		}
		return c.SendString("ready\n")
	}
}
