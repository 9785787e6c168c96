package e2e

import (
	"strings"
	"testing"

	"natter/app"
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

// With a base URL set, a person who opens Natter at another address (here
// its IP and port) is told so on the page before typing anything, and the
// refusal of the form says it again, instead of "This form has expired".
func TestWrongAddressIsNamedOnThePage(t *testing.T) {
	e := startEnv(t, func(c *app.Config) { c.BaseURL = "https://chat.example.test" })
	e.base = "http://" + e.srv.Addr()
	eve := e.newUser("eve")
	eve.open("/register", "#f-username")
	want := "Natter is set up for https://chat.example.test; you opened it at " + e.base + "."
	if got := eve.text(`[data-testid="wrong-address"]`); !strings.HasPrefix(got, want) {
		t.Errorf("banner %q, want it to start with %q", got, want)
	}
	eve.shoot(screenshotDir(t), "09-wrong-address")
	eve.do("register at the wrong address",
		fill("#f-username", eve.name),
		fill("#f-email", eve.email),
		fill("#f-password", eve.password),
		fill("#f-password_confirm", eve.password),
		clickAndLoad(`form[action="/register"] button[type=submit]`),
	)
	if got := eve.text(`[data-testid="error-heading"]`); got != "Natter is set up for another address" {
		t.Errorf("refusal heading %q, want %q", got, "Natter is set up for another address")
	}
	if got := eve.text(`[data-testid="wrong-address"]`); !strings.HasPrefix(got, want) {
		t.Errorf("refusal banner %q, want it to start with %q", got, want)
	}
}
