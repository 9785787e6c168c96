package app

import (
	"testing"
	"time"
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
