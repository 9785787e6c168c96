package handlers

import "github.com/gofiber/fiber/v2"

// What the tests in package handlers_test (which start servers with
// apptest) need from inside.

const (
	MsgBusy         = msgBusy
	ErrBadLogin     = errBadLogin
	AccountFailures = accountFailures
	SignUpsPerHour  = signUpsPerHour
	FailedSignUps   = failedSignUps
)

var WaitText = waitText

// ErrorChain is a's error handler and the middleware that turns a panic
// into it: request IDs, the request log, panic recovery.
func ErrorChain(a *App) (fiber.ErrorHandler, []any) {
	s := a.srv
	return s.errorHandler, []any{requestIDs(), s.logRequests, recoverPanics()}
}
