package handlers

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/assets"
	"natter/db"
)

// routes is the whole HTTP surface of Natter, in one screen.
func (s *server) routes(app *fiber.App) {
	app.Use(s.withSecurityHeaders, requestIDs())
	if s.Observe != nil {
		app.Use(s.observeRequests)
	}
	app.Use(s.logRequests, recoverPanics())
	app.Get(assets.Prefix+"*", s.Assets.Handler())
	app.Get("/healthz", healthz(s.DB, s.Log))
	app.Get("/readyz", readyz(s))

	// A session is read when the request has a cookie, and made only by a
	// page with a form (formPage), for its CSRF token.
	app.Use(s.sameOrigin, s.loadUser, s.csrfProtection)

	app.Get("/", s.home)
	app.Get("/register", noStore, s.formPage, s.registerForm)
	app.Post("/register", noStore, s.signUpLimit(signUpsPerHour, time.Hour, true), s.signUpLimit(failedSignUps, 15*time.Minute, false), s.register)
	app.Get("/login", noStore, s.formPage, s.loginForm)
	app.Post("/login", noStore,
		s.limit(20, 15*time.Minute, true, byIP("login")),
		s.limit(5, 15*time.Minute, true, s.byAccountAndIP),
		s.limitUnless(s.knownSignIn, accountFailures, time.Hour, true, s.byAccount),
		s.login)
	app.Post("/logout", s.logout)

	app.Get("/password/forgot", noStore, s.formPage, s.forgotForm)
	app.Post("/password/forgot", noStore, s.forgot)
	app.Get("/password/reset/:token", noStore, s.limit(30, 15*time.Minute, false, byIP("reset")), s.resetFormPage, s.resetStart)
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

// healthCheckEvery is how often /healthz really writes: probes in between
// share the last answer, so a flood of them costs no more than one a second.
const healthCheckEvery = time.Second

// healthz answers 200 while the database can be written, and 503 when it
// cannot (a full disk, a read-only file): answering reads alone while every
// form fails would hide the fault from whoever watches it.
func healthz(d *db.DB, log *slog.Logger) fiber.Handler {
	var (
		mu      sync.Mutex
		checked time.Time
		last    error
	)
	return func(c *fiber.Ctx) error {
		mu.Lock()
		if time.Since(checked) >= healthCheckEvery {
			ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
			last = d.CheckWrite(ctx)
			cancel()
			checked = time.Now()
			if last != nil {
				log.Error("health check: database cannot be written", "err", last)
			}
		}
		err := last
		mu.Unlock()
		c.Set(fiber.HeaderCacheControl, "no-store")
		if err != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString("database cannot be written\n")
		}
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
