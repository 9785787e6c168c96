package cluster

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Forwarded requests: a page or a form of a room that another node holds
// is answered by that node (docs/shared-rooms.md, "Pages and routes"). The
// request travels whole, as HTTP/1.1 bytes, with the address of the
// client that sent it; the answer comes back likewise. Like the relay,
// this trusts whoever may publish on the NATS servers: they must be
// private to the nodes.

// headerRemote carries the client's address on a forwarded request.
const headerRemote = "Natter-Remote"

func forwardSubject(node string) string { return "natter.node." + nodeToken(node) + ".http" }

// ServeForwarded answers the requests other nodes forward to node (named
// node) with handle, which gets the request's bytes and the client's
// address and returns the response's bytes, each request on a goroutine
// of its own (a page waits for the database).
func ServeForwarded(conn *Conn, node string, handle func(req []byte, remote string) []byte) error {
	_, err := conn.nc.Subscribe(forwardSubject(node), func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		go func() {
			if err := m.Respond(handle(m.Data, m.Header.Get(headerRemote))); err != nil {
				conn.log.Warn("NATS: a forwarded request was not answered", "err", err)
			}
		}()
	})
	if err == nil {
		err = conn.nc.FlushTimeout(checkTimeout)
	}
	if err != nil {
		return fmt.Errorf("NATS: subscribing to forwarded requests: %w", err)
	}
	return nil
}

// Forward sends request req (HTTP/1.1 bytes), from the client at remote,
// to node owner and returns its response's bytes.
func (c *Conn) Forward(ctx context.Context, owner string, req []byte, remote string) ([]byte, error) {
	m := nats.NewMsg(forwardSubject(owner))
	m.Header.Set(headerRemote, remote)
	m.Data = req
	resp, err := c.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("NATS: forwarding a request to node %s: %w", owner, err)
	}
	return resp.Data, nil
}

// lobbySubject is where node answers for the lobby.
func lobbySubject(node string) string { return "natter.node." + nodeToken(node) + ".lobby" }

// ServeLobby answers other nodes' questions for the lobby with handle,
// which gets the question's bytes and returns the answer's (the rooms
// node holds that a user sees).
func ServeLobby(conn *Conn, node string, handle func(question []byte) []byte) error {
	_, err := conn.nc.Subscribe(lobbySubject(node), func(m *nats.Msg) {
		if m.Reply != "" {
			_ = m.Respond(handle(m.Data))
		}
	})
	if err == nil {
		err = conn.nc.FlushTimeout(checkTimeout)
	}
	if err != nil {
		return fmt.Errorf("NATS: subscribing to lobby questions: %w", err)
	}
	return nil
}

// AskLobby asks node for its part of the lobby.
func (c *Conn) AskLobby(ctx context.Context, node string, question []byte) ([]byte, error) {
	resp, err := c.nc.RequestWithContext(ctx, lobbySubject(node), question)
	if err != nil {
		return nil, fmt.Errorf("NATS: asking node %s for the lobby: %w", node, err)
	}
	return resp.Data, nil
}
