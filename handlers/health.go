package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// healthCheckEvery is how often /healthz really writes: probes in between
// share the last answer, so a flood of them costs no more than one a second.
const healthCheckEvery = time.Second

// healthCheck is /healthz's last answer, shared by the probes of the
// next healthCheckEvery.
type healthCheck struct {
	mu      sync.Mutex
	checked time.Time
	last    error
}

// healthz answers 200 while the database can be written, and 503 when it
// cannot (a full disk, a read-only file): answering reads alone while every
// form fails would hide the fault from whoever watches it.
func (s *server) healthz(c *fiber.Ctx) error {
	h := &s.health
	h.mu.Lock()
	if time.Since(h.checked) >= healthCheckEvery {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		h.last = s.DB.CheckWrite(ctx)
		cancel()
		h.checked = time.Now()
		if h.last != nil {
			s.Log.Error("health check: database cannot be written", "err", h.last)
		}
	}
	err := h.last
	h.mu.Unlock()
	c.Set(fiber.HeaderCacheControl, "no-store")
	if err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("database cannot be written\n")
	}
	return c.SendString("ok\n")
}

// readyz answers 200 while this node should get new work: the database
// answers, the link to the other nodes (NATS), if any, is up, and the node
// is not draining. From SIGTERM on it answers 503, so a proxy moves new
// requests and sockets to another node first.
func (s *server) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if s.draining.Load() {
		return c.Status(fiber.StatusServiceUnavailable).SendString("draining\n")
	}
	if s.Cluster != nil {
		if s.Cluster.Ready() != nil {
			return c.Status(fiber.StatusServiceUnavailable).SendString("NATS unavailable\n")
		}
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("database unavailable\n")
	}
	return c.SendString("ready\n")
}
