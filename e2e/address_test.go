package e2e

import (
	"strings"
	"testing"
)

// With no base URL set, Natter serves as http://localhost:<port>; a person
// who opens http://127.0.0.1:<port> instead signs up, sees no warning, and
// chats live (forms, the socket's origin check and the CSP all accept it).
func TestSignUpAtLoopbackIP(t *testing.T) {
	e := startEnv(t, nil)
	if !strings.HasPrefix(e.base, "http://localhost:") {
		t.Fatalf("with no base URL the server is %s, want http://localhost:<port>", e.base)
	}
	e.base = strings.Replace(e.base, "localhost", "127.0.0.1", 1)
	ada := e.newUser("ada")
	ada.open("/register", "#f-username")
	if n := eval[int](ada, `document.querySelectorAll('[data-testid="wrong-address"]').length`); n != 0 {
		t.Errorf("127.0.0.1 shows the wrong-address banner: %q", ada.text(`[data-testid="wrong-address"]`))
	}
	ada.register()
	ada.enterRoom("general")
	ada.send("Hello from 127.0.0.1")
	ada.waitMessage("Hello from 127.0.0.1")
	ada.noScriptErrors()
}
