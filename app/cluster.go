package app

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"natter/chat"
	"natter/cluster"
	"natter/handlers"
)

// connectCluster connects to NATS when NATSURL is set, and opens the
// rooms' history in the broker: the registry's Store (ccfg), built next.
func (s *Server) connectCluster(ctx context.Context, ccfg *chat.Config) error {
	if s.cfg.NATSURL == "" {
		return nil
	}
	if s.cfg.DatabaseURL == "" {
		// Events name users by id, which only shared accounts make the
		// same user on every node.
		return errors.New("NATTER_NATS_URL needs NATTER_DATABASE_URL: the nodes must share their accounts in PostgreSQL")
	}
	node, log := s.cfg.nodeName(), s.log.With("component", "nats")
	var err error
	if s.nats, err = cluster.Connect(ctx, s.cfg.NATSURL, node, log); err != nil {
		return err
	}
	h, err := cluster.NewHistory(ctx, s.nats, cluster.HistoryOptions{Entries: ccfg.History, Bytes: ccfg.HistoryBytes}, log)
	if err != nil {
		return err
	}
	s.shared = &sharedRooms{node: node, conn: s.nats, history: newBrokerHistory(h, log), log: log, ready: make(map[string]bool), started: make(chan struct{}), stop: make(chan struct{})}
	s.shared.history.holds = s.shared.holds
	s.shared.history.ready = s.shared.isReady
	s.shared.history.purged = s.shared.released
	s.shared.history.notHeld = s.shared.dropUnheld
	s.shared.history.unknown = s.shared.reload
	ccfg.Store = s.shared.history
	return nil
}

// joinCluster, once the registry is built (from ccfg), starts sharing its
// rooms with the other nodes when NATSURL is set, and returns what reaches
// a user's sockets on every node; on one node, the registry's own.
func (s *Server) joinCluster(ctx context.Context, ccfg chat.Config) (handlers.Users, error) {
	if s.nats == nil {
		return s.rooms, nil
	}
	node, log := s.cfg.nodeName(), s.log.With("component", "nats")
	users, err := cluster.NewUsers(s.nats, s.rooms, node, log)
	if err != nil {
		return nil, err
	}
	s.rooms.RelayNotices(users.RelayUser)
	sr := s.shared
	sr.rooms = s.rooms
	if sr.relays, err = cluster.NewRelays(s.nats, node, sr.joinRelayed, log); err != nil {
		return nil, err
	}
	if sr.owners, err = cluster.NewOwners(ctx, s.nats, node, cluster.OwnersOptions{
		OnLost:  sr.lost,
		OnOwner: sr.ownerChanged,
	}, log); err != nil {
		return nil, err
	}
	close(sr.started)
	sr.sweep(ccfg)
	go sr.checkHeld()
	if err := cluster.ServeForwarded(s.nats, node, sr.serveForwarded); err != nil {
		return nil, err
	}
	if err := cluster.ServeLobby(s.nats, node, sr.answerLobby); err != nil {
		return nil, err
	}
	return users, nil
}

// closeEverywhere closes user id's sockets on every node connected to the
// NATS servers at urls, as a node that ended their sessions would: what
// `natter user password` does when NATTER_NATS_URL is set, so that it
// takes effect at once rather than within the servers' session check.
func closeEverywhere(ctx context.Context, urls, node string, id int64, reason string) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := cluster.Connect(ctx, urls, node, quiet)
	if err != nil {
		return err
	}
	users, err := cluster.NewUsers(conn, noSockets{}, node, quiet)
	if err == nil {
		users.CloseUser(id, "", chat.ClosePolicyViolation, reason)
	}
	// Close sends what was published before it returns.
	return errors.Join(err, conn.Close())
}

// noSockets is the registry of a command, which holds no socket.
type noSockets struct{}

func (noSockets) SendUser(int64, []byte) int           { return 0 }
func (noSockets) CloseUser(int64, string, int, string) {}
func (noSockets) CloseSession(string, int, string)     {}
func (noSockets) Sessions() []string                   { return nil }
