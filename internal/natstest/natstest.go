// Package natstest gives tests a real NATS server, started inside the test
// binary from the nats-server module itself (the server NATS ships, not a
// fake), on a free loopback port, with JetStream on by default. It is only
// imported by tests: the natter binary links the client alone.
package natstest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one running NATS server. It stops when the test ends.
type Server struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// Option changes the server's options before it starts.
type Option func(*server.Options)

// WithoutJetStream starts a server with JetStream off.
func WithoutJetStream() Option { return func(o *server.Options) { o.JetStream = false } }

// Start runs a NATS server on 127.0.0.1 and a free port.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, opts: server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}}
	for _, o := range opts {
		o(&s.opts)
	}
	s.start()
	t.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	o := s.opts
	srv, err := server.NewServer(&o)
	if err != nil {
		s.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatal("natstest: the NATS server was not ready within 10 s")
	}
	s.srv = srv
	// A restart comes back on the same port.
	s.opts.Port = srv.Addr().(*net.TCPAddr).Port
}

// URL is the server's client URL, nats://127.0.0.1:PORT.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// Clients is how many client connections the server has now.
func (s *Server) Clients() int { return s.srv.NumClients() }

// ClientNames are the names the clients connected now gave.
func (s *Server) ClientNames() []string {
	c, err := s.srv.Connz(&server.ConnzOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, ci := range c.Conns {
		out = append(out, ci.Name)
	}
	return out
}

// Shutdown stops the server; its clients see the connection drop. Calling
// it again does nothing.
func (s *Server) Shutdown() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

// Restart starts the server again on the same port, after Shutdown.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	s.start()
}
