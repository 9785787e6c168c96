package app

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"natter/chat"
	"natter/cluster"
	"natter/handlers"
)

// sharedRooms shares the rooms among the nodes connected to NATS
// (docs/shared-rooms.md): each room is held by one node, which leases it
// in the broker (cluster.Owners), keeps its history and settings in the
// broker (brokerHistory, the registry's Store) and serves the sockets the
// other nodes relay to it (cluster.Relays); the other nodes forward the
// room's pages and forms to it. It is handlers.Shared.
type sharedRooms struct {
	node    string
	conn    *cluster.Conn
	rooms   *chat.Registry
	owners  *cluster.Owners
	history *brokerHistory
	relays  *cluster.Relays
	web     atomic.Pointer[handlers.App] // set once built; until then relayed sockets and forwarded requests are refused
	log     *slog.Logger

	// claimMu orders takeovers and losses: a room is restored here before
	// anyone uses it, and dropped when it is not held. ready holds the
	// rooms held and restored here.
	claimMu sync.Mutex
	mu      sync.Mutex
	ready   map[string]bool

	started  chan struct{} // closed once owners is set
	stop     chan struct{} // closed by close: the check of held rooms ends
	stopOnce sync.Once
}

// Claim returns "" when room slug is held here, taking it over (restored
// from the broker) if no node held it; else the node that holds it.
func (sr *sharedRooms) Claim(ctx context.Context, slug string) (string, error) {
	if sr.isReady(slug) {
		return "", nil
	}
	// Held by another node, as the watch saw it: no round trip (if it
	// gave the room up meanwhile, it takes it again when asked).
	if known := sr.owners.Known(slug); known != "" && known != sr.node {
		return known, nil
	}
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	if sr.isReady(slug) {
		return "", nil
	}
	owner, err := sr.owners.Claim(ctx, slug)
	if err != nil {
		return "", err
	}
	if owner != sr.node {
		return owner, nil
	}
	// Not ready here, so whatever the registry has of the room is not
	// what the broker has (a copy kept from before the lease was lost,
	// however briefly): it goes, and the room is restored from the broker.
	if n := sr.rooms.Drop(slug); n > 0 {
		sr.log.Warn("NATS: a room claimed here was still in the registry; dropped, restored from the broker", "room", slug, "sockets", n)
	}
	settings, found, history, err := sr.history.load(ctx, slug)
	if err == nil && (found || len(history) > 0) {
		err = sr.rooms.Restore(slug, settings, history)
	}
	if err != nil {
		// Not restored: not held either, so that another try (here or on
		// another node) restores it.
		_ = sr.owners.Release(context.WithoutCancel(ctx), slug)
		return "", err
	}
	sr.mu.Lock()
	sr.ready[slug] = true
	sr.mu.Unlock()
	// A claim that made no room (a page of a room nobody opened) must not
	// hold a lease for ever.
	time.AfterFunc(unusedLease, func() { sr.releaseUnused(slug) })
	return "", nil
}

// unusedLease is how long this node keeps the lease of a room it claimed
// that its registry does not have (a variable for tests).
var unusedLease = 30 * time.Second

// releaseUnused releases room slug's lease if the registry has no such
// room; were it being created meanwhile, storing its settings fails (the
// node no longer holds it) and it is not.
func (sr *sharedRooms) releaseUnused(slug string) {
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	if _, _, ok := sr.rooms.Room(slug); ok || !sr.owners.Holds(slug) {
		return
	}
	sr.mu.Lock()
	delete(sr.ready, slug)
	sr.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := sr.owners.Release(ctx, slug); err != nil {
		sr.log.Warn("NATS: an unused room's lease was not released", "room", slug, "err", err)
	}
}

func (sr *sharedRooms) isReady(slug string) bool {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return sr.ready[slug] && sr.owners.Holds(slug)
}

// lost is Owners' OnLost: the room is held elsewhere now, or will be.
// It is dropped here even if a claim took its lease back meanwhile: the
// room is then restored from the broker, which may hold what this node
// did not see (a post whose store it gave up on).
func (sr *sharedRooms) lost(slug string) {
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	if n := sr.dropLocked(slug); n > 0 {
		sr.log.Info("NATS: a room held here was lost; its sockets reconnect", "room", slug, "sockets", n)
	}
}

// dropLocked forgets room slug here: its sockets close with 1012 and
// reconnect to wherever it is held. claimMu must be held.
func (sr *sharedRooms) dropLocked(slug string) int {
	sr.mu.Lock()
	delete(sr.ready, slug)
	sr.mu.Unlock()
	sr.history.forget(slug)
	return sr.rooms.Drop(slug)
}

// dropUnheld drops room slug if the registry has it while this node does
// not hold its lease: another node holds it, or nobody, and the members
// here must not sit in a room that reaches nobody else and whose posts
// cannot be stored (brokerHistory refuses to write a room not held).
// However that came about, the room is dropped: its members reconnect to
// the node that holds it, or claim it again.
func (sr *sharedRooms) dropUnheld(slug string) {
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	if sr.owners.Holds(slug) {
		return
	}
	if n := sr.dropLocked(slug); n > 0 {
		sr.log.Warn("NATS: a room here whose lease this node does not hold was dropped; its sockets reconnect", "room", slug, "sockets", n)
	}
}

// reload drops room slug, held here, after a write whose outcome is
// unknown (refused "Not sent", yet the broker may take it late, when NATS
// comes back): its members reconnect, and the room is restored from the
// broker when they do, so that every page shows what the broker has
// rather than what this node believed.
func (sr *sharedRooms) reload(slug string) {
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	if n := sr.dropLocked(slug); n > 0 {
		sr.log.Info("NATS: a room's write failed; the room reloads from the broker, its sockets reconnect", "room", slug, "sockets", n)
	}
}

// ownerChanged is Owners' OnOwner: the sockets relayed from here to the
// room's old owner reconnect, and a room this node has but does not hold
// is dropped.
func (sr *sharedRooms) ownerChanged(slug, owner string) {
	sr.relays.OwnerChanged(slug, owner)
	select {
	case <-sr.started:
	default:
		return // NewOwners's first look at the bucket: no room is here yet
	}
	if owner != sr.node && sr.rooms.IsLive(slug) {
		go sr.dropUnheld(slug) // claimMu may be held by a takeover's round trips
	}
}

// heldEvery is how often the rooms of the registry are checked against
// the leases held.
const heldEvery = cluster.DefaultLease / 4

// checkHeld drops, every heldEvery until close, the rooms the registry
// has and this node does not hold (whatever missed them: a room made by a
// join just after its lease was lost).
func (sr *sharedRooms) checkHeld() {
	t := time.NewTicker(heldEvery)
	defer t.Stop()
	for {
		select {
		case <-sr.stop:
			return
		case <-t.C:
			for _, slug := range sr.rooms.Live() {
				if !sr.owners.Holds(slug) {
					sr.dropUnheld(slug)
				}
			}
		}
	}
}

// close ends checkHeld.
func (sr *sharedRooms) close() { sr.stopOnce.Do(func() { close(sr.stop) }) }

// released forgets room slug, destroyed here (its history purged): its
// lease goes, and the next node to use the room makes it anew.
func (sr *sharedRooms) released(slug string) {
	sr.mu.Lock()
	delete(sr.ready, slug)
	sr.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if err := sr.owners.Release(ctx, slug); err != nil {
			sr.log.Warn("NATS: a destroyed room's lease was not released", "room", slug, "err", err)
		}
	}()
}

// holds reports whether this node may write room slug's history: it
// holds the room.
func (sr *sharedRooms) holds(slug string) bool { return sr.owners.Holds(slug) }

// joinRelayed is Relays' JoinFunc: a socket another node relays to a
// room held here joins it and is served like one of this node's.
func (sr *sharedRooms) joinRelayed(req cluster.JoinRequest, sock *cluster.RemoteSocket) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	// web is set last, once the owners are: until then, nothing is held.
	web := sr.web.Load()
	if web == nil {
		return &cluster.Refused{Code: chat.CloseServiceRestart, Reason: "Reconnecting to the other servers."}
	}
	if owner, err := sr.Claim(ctx, req.Room); err != nil || owner != "" {
		// Moved meanwhile, or this node is starting: the browser reconnects.
		return &cluster.Refused{Code: chat.CloseServiceRestart, Reason: "Reconnecting to the other servers."}
	}
	// A room this node just claimed with nothing stored to restore does
	// not exist here: the page's hint (req.Private) has it refused
	// (chat.ErrNoRoom), not made anew as a public room.
	join := sr.rooms.JoinRemote
	if req.Private {
		join = sr.rooms.JoinRemotePrivate
	}
	c, err := join(req.Room, chat.Member{ID: req.MemberID, Name: req.MemberName}, req.Session, sock.Link(), sock.ID())
	if err != nil {
		var ce *chat.Error
		reason := "Internal error."
		if errors.As(err, &ce) {
			reason = ce.Msg
		}
		return &cluster.Refused{Code: chat.CloseCodeFor(err), Reason: reason}
	}
	go func() {
		web.ServeRemote(c, sock, req.Room)
		_ = sock.Close()
	}()
	return nil
}

// Relay relays client's socket to the room that node owner holds; with
// private (the page's hint), the owner never creates the room for it.
func (sr *sharedRooms) Relay(ctx context.Context, owner, slug string, private bool, m chat.Member, session string, client *chat.Client) (func([]byte) error, func(), error) {
	rl, err := sr.relays.Join(ctx, owner, cluster.JoinRequest{Room: slug, MemberID: m.ID, MemberName: m.Name, Session: session, Private: private}, clientBrowser{client})
	if err != nil {
		return nil, nil, err
	}
	return rl.Send, rl.Close, nil
}

// clientBrowser hands the owner's frames and close to the relayed
// connection here.
type clientBrowser struct{ c *chat.Client }

func (b clientBrowser) Frame(data []byte)             { b.c.Send(data) }
func (b clientBrowser) Close(code int, reason string) { b.c.Close(code, reason) }

// Forward has node owner answer ctx's request.
func (sr *sharedRooms) Forward(ctx *fasthttp.RequestCtx, owner string) error {
	var req bytes.Buffer
	if _, err := ctx.Request.WriteTo(&req); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	data, err := sr.conn.Forward(rctx, owner, req.Bytes(), ctx.RemoteAddr().String())
	if err != nil {
		return err
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(bytes.NewReader(data))); err != nil {
		return err
	}
	resp.CopyTo(&ctx.Response)
	return nil
}

// serveForwarded answers a request another node forwarded here.
func (sr *sharedRooms) serveForwarded(data []byte, remote string) []byte {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	web := sr.web.Load()
	if err := req.Read(bufio.NewReader(bytes.NewReader(data))); err != nil || web == nil {
		ctx.Response.SetStatusCode(fasthttp.StatusServiceUnavailable)
	} else {
		addr, err := net.ResolveTCPAddr("tcp", remote)
		if err != nil {
			addr = &net.TCPAddr{IP: net.IPv4zero}
		}
		ctx.Init(&req, addr, nil)
		web.ServeForwarded(&ctx)
	}
	var out bytes.Buffer
	_, _ = ctx.Response.WriteTo(&out)
	return out.Bytes()
}

// lobbyWait bounds the lobby's questions to the other nodes; a node that
// does not answer in time leaves its rooms out of that view.
const lobbyWait = time.Second

// RoomsFor lists the rooms user id sees in the lobby, from every node
// that holds rooms: the permanent ones first (with the count of the node
// that holds each), then the user rooms by slug.
func (sr *sharedRooms) RoomsFor(ctx context.Context, id int64) []chat.RoomInfo {
	parts := [][]chat.RoomInfo{sr.heldRoomsFor(id)}
	nodes := sr.owners.Nodes()
	answers := make([][]chat.RoomInfo, len(nodes))
	question, _ := json.Marshal(id)
	ctx, cancel := context.WithTimeout(ctx, lobbyWait)
	defer cancel()
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() {
			data, err := sr.conn.AskLobby(ctx, node, question)
			if err == nil {
				err = json.Unmarshal(data, &answers[i])
			}
			if err != nil {
				sr.log.Warn("NATS: a node's rooms are missing from the lobby", "node", node, "err", err)
			}
		})
	}
	wg.Wait()
	parts = append(parts, answers...)
	return mergeLobby(parts)
}

// heldRoomsFor is this node's part of user id's lobby: the permanent
// rooms and the user rooms it holds.
func (sr *sharedRooms) heldRoomsFor(id int64) []chat.RoomInfo {
	var out []chat.RoomInfo
	for _, r := range sr.rooms.RoomsFor(id) {
		if r.Permanent || sr.owners.Holds(r.Slug) {
			out = append(out, r)
		}
	}
	return out
}

// answerLobby answers another node's question for the lobby.
func (sr *sharedRooms) answerLobby(question []byte) []byte {
	var id int64
	if json.Unmarshal(question, &id) != nil || sr.web.Load() == nil {
		return []byte("[]")
	}
	data, err := json.Marshal(sr.heldRoomsFor(id))
	if err != nil {
		return []byte("[]")
	}
	return data
}

// mergeLobby merges the nodes' parts of a lobby: the permanent rooms in
// the first part's order, each with the largest count (only the node that
// holds it has members), then the user rooms by slug, each once.
func mergeLobby(parts [][]chat.RoomInfo) []chat.RoomInfo {
	var out []chat.RoomInfo
	index := make(map[string]int)
	for _, part := range parts {
		for _, r := range part {
			if i, ok := index[r.Slug]; ok {
				out[i].Members = max(out[i].Members, r.Members)
				continue
			}
			index[r.Slug] = len(out)
			out = append(out, r)
		}
	}
	n := 0
	for _, r := range out {
		if r.Permanent {
			n++
		}
	}
	user := make([]chat.RoomInfo, 0, len(out)-n)
	perm := make([]chat.RoomInfo, 0, n)
	for _, r := range out {
		if r.Permanent {
			perm = append(perm, r)
		} else {
			user = append(user, r)
		}
	}
	slices.SortFunc(user, func(a, b chat.RoomInfo) int { return cmp.Compare(a.Slug, b.Slug) })
	return append(perm, user...)
}
