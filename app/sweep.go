package app

import (
	"natter/chat"
	"natter/cluster"
)

// sweep has this node take part in the sweep of orphaned histories
// (cluster.Owners.Sweep): the history of a room no node has held for
// the rooms' grace period (its owner died and nobody came back) is
// purged, as a room with no member is destroyed one grace after on one
// node. The permanent rooms, which have no stored settings, are looked at
// by name.
func (sr *sharedRooms) sweep(cfg chat.Config) {
	sr.owners.Sweep(sr.history.h, cluster.SweepOptions{
		Grace:     cfg.Grace,
		Rooms:     cfg.Permanent,
		Exclusive: sr.sweepAlone,
	})
}

// sweepAlone runs the sweep of room slug while this node takes no room
// over (Claim): a claim here that found the room held by this node, the
// sweeper, would restore it from the history being purged. Once the
// sweep is over, such a claim finds the room free, and claims it anew.
func (sr *sharedRooms) sweepAlone(slug string, sweep func()) {
	sr.claimMu.Lock()
	defer sr.claimMu.Unlock()
	sweep()
}
