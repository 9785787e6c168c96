package app

import (
	"strings"
	"testing"
	"time"

	"natter/chat"
	"natter/mail"
)

// The defaults are what the README's configuration table promises.
func TestDefaultConfig(t *testing.T) {
	got := DefaultConfig()
	want := Config{
		Addr: "localhost:8080", DBPath: "natter.db", BaseURL: "",
		SMTPPort: 587, SMTPFrom: "Natter <natter@localhost>", SMTPTLS: "starttls",
		SMTPConnectTimeout: 10 * time.Second, SMTPSendTimeout: 30 * time.Second,
		RoomGrace: 10 * time.Second, History: 200, MessageRate: 10, MessageBurst: 20,
		LogLevel: "info", LogFormat: "text",
	}
	if got != want {
		t.Errorf("DefaultConfig() = %+v\nwant %+v", got, want)
	}
	// The SMTP timeouts reach the mailer.
	if m := got.mailConfig(); m.ConnectTimeout != 10*time.Second || m.SendTimeout != 30*time.Second || m.TLS != "starttls" || m.Port != 587 {
		t.Errorf("mailConfig() = %+v", m)
	}
}

// The room and mail defaults are the chat and mail packages' own, not
// copies of them.
func TestDefaultConfigFollowsThePackages(t *testing.T) {
	got, room, m := DefaultConfig(), chat.DefaultConfig(), mail.DefaultConfig()
	if got.RoomGrace != room.Grace || got.History != room.History || got.MessageRate != room.MessageRate || got.MessageBurst != room.MessageBurst {
		t.Errorf("room settings %v %d %v %d, want chat's %v %d %v %d", got.RoomGrace, got.History, got.MessageRate, got.MessageBurst, room.Grace, room.History, room.MessageRate, room.MessageBurst)
	}
	if got.SMTPPort != m.Port || got.SMTPFrom != m.From || got.SMTPTLS != m.TLS || got.SMTPConnectTimeout != m.ConnectTimeout || got.SMTPSendTimeout != m.SendTimeout {
		t.Errorf("mail settings %d %q %q %v %v, want mail's %d %q %q %v %v", got.SMTPPort, got.SMTPFrom, got.SMTPTLS, got.SMTPConnectTimeout, got.SMTPSendTimeout, m.Port, m.From, m.TLS, m.ConnectTimeout, m.SendTimeout)
	}
}

// -h tells what -room-grace means (as the README does): how long a member
// outlives their last connection, a room dying one grace after its last
// member. It used to say how long an empty room lives.
func TestUsageOfRoomGrace(t *testing.T) {
	var out strings.Builder
	if _, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out); err != ErrHelp {
		t.Fatalf("parseConfig(-h) = %v, want ErrHelp", err)
	}
	want := "  -room-grace value\n    \thow long a member outlives their last connection, so a room dies one grace after its last member leaves (0 allowed) ($NATTER_ROOM_GRACE) (default 10s)\n"
	if !strings.Contains(out.String(), want) {
		t.Errorf("usage lacks\n%s\ngot:\n%s", want, out.String())
	}
}

// Every setting has one row, and the variable's name is the flag's.
func TestEverySettingHasOneRow(t *testing.T) {
	var c Config
	seen := map[string]bool{}
	for _, s := range settings(&c) {
		if seen[s.flag] {
			t.Errorf("-%s has two rows", s.flag)
		}
		seen[s.flag] = true
		if want := "NATTER_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_")); s.env != want {
			t.Errorf("-%s reads $%s, want $%s", s.flag, s.env, want)
		}
	}
}
