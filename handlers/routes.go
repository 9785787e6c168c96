package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"natter/assets"
)

// routes is the whole HTTP surface of Natter, in one screen.
func (s *server) routes(app *fiber.App) {
	app.Use(s.withSecurityHeaders, requestIDs())
	if s.Observe != nil {
		app.Use(s.observeRequests)
	}
	app.Use(s.logRequests, recoverPanics())
	app.Get(assets.Prefix+"*", s.Assets.Handler())
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)

	// A session is read when the request has a cookie, and made only by a
	// page with a form (formPage), for its CSRF token. From here on the
	// database has requestWait to answer.
	app.Use(withDeadline, s.sameOrigin, s.loadUser, s.csrfProtection)

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
	// A mailed link (/password/reset/TOKEN) moves its token into the
	// session and redirects to resetPath, whose form posts there; resetPath
	// is registered first so that it is not taken for a token. One limit
	// per method counts both addresses.
	resetGets, resetPosts := s.limit(30, 15*time.Minute, false, byIP("reset")), s.limit(30, 15*time.Minute, false, byIP("reset"))
	app.Get(resetPath, noStore, resetGets, s.formPage, s.resetForm)
	app.Post(resetPath, noStore, resetPosts, s.reset)
	app.Get("/password/reset/:token", noStore, resetGets, s.resetStart)
	app.Post("/password/reset/:token", noStore, resetPosts, s.reset)

	app.Get("/account", requireUser, noStore, s.accountPage)
	app.Post("/account", requireUser, noStore, s.limit(10, 15*time.Minute, true, byIP("account")), s.account)

	app.Get("/rooms", requireUser, noStore, s.lobby)
	app.Post("/rooms", requireUser, s.limit(30, time.Minute, false, byIP("create-room")), s.createRoom)
	app.Get("/rooms/list", requireUser, s.roomList)
	app.Get("/rooms/:slug", requireUser, s.roomHeld, s.roomPage)
	app.Get("/rooms/:slug/ws", s.limit(600, time.Minute, false, byIP("ws")), s.socketGate, s.roomSocket())
	app.Post("/rooms/:slug/messages", requireUser, s.roomHeld, s.postMessage)
	// A message's actions (messages.go); each GET is the form's own page,
	// for browsers without JavaScript.
	actions := s.limit(120, time.Minute, false, byIP("message-actions"))
	app.Get("/rooms/:slug/messages/:seq/edit", requireUser, s.roomHeld, noStore, s.editForm)
	app.Post("/rooms/:slug/messages/:seq/edit", requireUser, s.roomHeld, noStore, actions, s.editMessage)
	app.Get("/rooms/:slug/messages/:seq/delete", requireUser, s.roomHeld, noStore, s.deletePage)
	app.Post("/rooms/:slug/messages/:seq/delete", requireUser, s.roomHeld, noStore, actions, s.deleteMessage)
	app.Get("/rooms/:slug/messages/:seq/reactions", requireUser, s.roomHeld, noStore, s.reactPage)
	app.Post("/rooms/:slug/messages/:seq/reactions", requireUser, s.roomHeld, noStore, actions, s.reactMessage)
	// Private rooms (private.go): an invitation link shows a page whose
	// button admits (a GET changes nothing); the owner makes a new link.
	app.Get("/rooms/:slug/join/:token", requireUser, s.roomHeld, noStore, s.joinPage)
	app.Post("/rooms/:slug/join/:token", requireUser, s.roomHeld, noStore, s.joinRoom)
	app.Post("/rooms/:slug/invite", requireUser, s.roomHeld, noStore, s.newInvite)
	app.Post("/rooms/:slug/members/:id/remove", requireUser, s.roomHeld, noStore, s.removeMember)
	app.Post("/dm", requireUser, noStore, s.limit(30, time.Minute, false, byIP("dm")), s.directMessage)

	// Every /admin route is a 404, as for an unknown page, to anyone but
	// an admin.
	app.Get("/admin", s.requireAdmin, noStore, s.adminPage)
	app.Post("/admin/users/:id/disable", s.requireAdmin, noStore, s.disableUser)
	app.Post("/admin/users/:id/enable", s.requireAdmin, noStore, s.enableUser)
	app.Post("/admin/signup", s.requireAdmin, noStore, s.setSignUpMode)
	app.Post("/admin/invites", s.requireAdmin, noStore, s.createInvite)
	app.Post("/admin/invites/:id/revoke", s.requireAdmin, noStore, s.revokeInvite)

	app.Use(s.notFound)
}
