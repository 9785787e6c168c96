package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// RequestObserver is told of every finished request: the route pattern
// that served it (never the raw path, so ids and tokens make no new
// series), its method and status, and how long it took.
type RequestObserver func(route, method string, status int, took time.Duration)

// observeRequests reports each request to Deps.Observe. It runs outside
// logRequests, which has turned any error into its response by then.
func (s *server) observeRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	route := "unmatched"
	if r := c.Route(); r != nil && c.Response().StatusCode() != fiber.StatusNotFound {
		route = r.Path
	}
	s.Observe(route, c.Method(), c.Response().StatusCode(), time.Since(start))
	return err
}
