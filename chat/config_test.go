package chat

import (
	"testing"
	"time"
)

// The writer must ping within the reader's pong wait, or a live but quiet
// peer is dropped: a PingPeriod that is not below PongWait is lowered to
// five sixths of it; one that is, and the defaults, are kept.
func TestPingPeriodStaysBelowPongWait(t *testing.T) {
	for _, tc := range []struct {
		name             string
		ping, pong, want time.Duration
	}{
		{"defaults", 0, 0, 50 * time.Second},
		{"only a short pong wait", 0, 300 * time.Millisecond, 250 * time.Millisecond},
		{"ping longer than pong", 2 * time.Minute, time.Minute, 50 * time.Second},
		{"ping equal to pong", 6 * time.Second, 6 * time.Second, 5 * time.Second},
		{"ping below pong", 10 * time.Second, 30 * time.Second, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{PingPeriod: tc.ping, PongWait: tc.pong}.withDefaults()
			if cfg.PingPeriod != tc.want {
				t.Errorf("PingPeriod = %v, want %v (PongWait %v)", cfg.PingPeriod, tc.want, cfg.PongWait)
			}
			if cfg.PingPeriod >= cfg.PongWait {
				t.Errorf("PingPeriod %v is not below PongWait %v", cfg.PingPeriod, cfg.PongWait)
			}
		})
	}
	if d := DefaultConfig(); d.PingPeriod != DefaultPingPeriod || d.PongWait != 60*time.Second {
		t.Errorf("DefaultConfig: PingPeriod %v, PongWait %v; want 50s, 1m0s", d.PingPeriod, d.PongWait)
	}
}
