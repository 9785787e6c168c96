package handlers_test

import (
	"natter/handlers"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"natter/client"
)

const adminPW = "plum-kettle-orbit-42"

// adminHarness starts a server whose first account, ana, is the admin, and
// signs up bo, who is not.
func adminHarness(t *testing.T) (h *harness, ana, bo *client.Client) {
	t.Helper()
	h = newHarness(t)
	ana = h.signedUp("ana", "ana@example.com", adminPW)
	bo = h.signedUp("bob", "bob@example.com", adminPW)
	return h, ana, bo
}

// byTestID is the text of the element with that data-testid.
func byTestID(body, id string) string {
	return textOf(body, func(n *html.Node) bool { return attr(n, "data-testid") == id })
}

// inviteLink is the invitation link the admin page shows once, as a path.
func inviteLink(t *testing.T, body string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var link string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "data-testid") == "invite-link" {
			link = attr(n, "value")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no invitation link on the page:\n%.3000s", body)
	}
	return u.RequestURI()
}

// invite makes an invitation on the admin page and returns its link.
func invite(t *testing.T, admin *client.Client) string {
	t.Helper()
	res := submit(t, admin, "/admin", "/admin/invites", nil)
	wantPage(t, res, http.StatusCreated, "Copy this link now: it is shown only this once.")
	return inviteLink(t, res.Body)
}

func TestFirstAccountIsAdmin(t *testing.T) {
	h := newHarness(t)
	ana := h.signedUp("ana", "ana@example.com", adminPW)
	lobby := get(t, ana, "/rooms")
	if got := byTestID(lobby.Body, "admin-welcome"); !strings.HasPrefix(got, "You are the admin of this Natter.") {
		t.Errorf("first admin's lobby says %q", got)
	}
	if !strings.Contains(lobby.Body, `href="/admin"`) {
		t.Error("no link to /admin in the first admin's lobby")
	}
	bo := h.signedUp("bob", "bob@example.com", adminPW)
	if body := get(t, bo, "/rooms").Body; byTestID(body, "admin-welcome") != "" || strings.Contains(body, `href="/admin"`) {
		t.Error("the second account is told it is an admin")
	}
	// Once there is someone else, the admin is no longer greeted; the
	// header keeps the link.
	lobby = get(t, ana, "/rooms")
	if byTestID(lobby.Body, "admin-welcome") != "" || byTestID(lobby.Body, "admin-link") != "Admin" {
		t.Errorf("welcome %q, header link %q", byTestID(lobby.Body, "admin-welcome"), byTestID(lobby.Body, "admin-link"))
	}
	page := get(t, ana, "/admin")
	wantPage(t, page, http.StatusOK, "Administration", "ana@example.com", "bob@example.com")
	marks := func(name string) string {
		return textOf(page.Body, func(n *html.Node) bool {
			return attr(n, "data-testid") == "marks" && n.Parent != nil && attr(n.Parent, "data-user") == name
		})
	}
	if marks("ana") != "admin" || marks("bob") != "" {
		t.Errorf("marks: ana %q, bo %q; want admin, none", marks("ana"), marks("bob"))
	}
}

// Every /admin route is, to a visitor and to a user who is not an admin,
// the very page an unknown address gets.
func TestAdminRoutesAre404ToOthers(t *testing.T) {
	h, ana, bo := adminHarness(t)
	invite(t, ana) // something to revoke
	routes := []string{"/admin/users/1/disable", "/admin/users/2/enable", "/admin/signup", "/admin/invites", "/admin/invites/1/revoke"}
	unknown := get(t, bo, "/no-such-page")
	wantPage(t, unknown, http.StatusNotFound, "Page not found")
	if res := get(t, bo, "/admin"); res.Status != http.StatusNotFound || withoutCSRF(res.Body) != withoutCSRF(unknown.Body) {
		t.Errorf("bob: GET /admin answered %d, not the unknown page", res.Status)
	}
	visitor := h.client()
	vUnknown := get(t, visitor, "/no-such-page")
	if res := get(t, visitor, "/admin"); res.Status != http.StatusNotFound || res.Body != vUnknown.Body {
		t.Errorf("visitor: GET /admin answered %d, not the unknown page", res.Status)
	}
	tok := pageCSRF(unknown.Body)
	form := url.Values{"csrf": {tok}, "mode": {"closed"}}
	postUnknown := post(t, bo, "/admin/nothing-here", form)
	for _, r := range routes {
		res := post(t, bo, r, form)
		if res.Status != http.StatusNotFound || withoutCSRF(res.Body) != withoutCSRF(postUnknown.Body) {
			t.Errorf("bob: POST %s answered %d, want the unknown page's 404", r, res.Status)
		}
		vres := post(t, visitor, r, url.Values{"mode": {"closed"}})
		vUnknownPost := post(t, visitor, "/admin/nothing-here", url.Values{"mode": {"closed"}})
		if vres.Status != vUnknownPost.Status {
			t.Errorf("visitor: POST %s answered %d, an unknown address %d", r, vres.Status, vUnknownPost.Status)
		}
	}
	// Nothing changed.
	if m, _ := h.DB.SignUpMode(t.Context()); m != "open" {
		t.Errorf("sign-up mode %q after refused posts", m)
	}
	invs, _ := h.DB.Invitations(t.Context())
	users, _ := h.DB.Users(t.Context())
	if len(invs) != 1 || !invs[0].RevokedAt.IsZero() || users[0].Disabled() || users[1].Disabled() {
		t.Errorf("refused posts changed something: %+v %+v", invs, users)
	}
}

// Ids that name nothing, or are not ids, are 404 to the admin too.
func TestAdminForgedIDs(t *testing.T) {
	_, ana, _ := adminHarness(t)
	tok := pageCSRF(get(t, ana, "/admin").Body)
	for _, r := range []string{"/admin/users/999/disable", "/admin/users/999/enable", "/admin/users/0/disable",
		"/admin/users/-2/disable", "/admin/users/bo/disable", "/admin/invites/999/revoke", "/admin/invites/x/revoke"} {
		res := post(t, ana, r, url.Values{"csrf": {tok}})
		wantPage(t, res, http.StatusNotFound, "Page not found")
	}
}

// Disabling ends the user's socket at once (1008, with the reason), their
// session, and their sign-in, which says why only to the right password;
// enabling lets them back in.
func TestDisableAndEnable(t *testing.T) {
	h, ana, bo := adminHarness(t)
	sock, err := bo.Dial("general", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	// The snapshot comes once the socket has joined: only then is there a
	// socket for the disable to close.
	sock.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := sock.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	res := submit(t, ana, "/admin", "/admin/users/2/disable", nil)
	wantRedirect(t, res, "/admin?done=disabled&user=2")
	page := get(t, ana, res.Location)
	if got := page.Body; !strings.Contains(got, "bob has been disabled: their sessions have ended and they cannot sign in.") {
		t.Errorf("no notice:\n%.3000s", got)
	}
	// The session check runs every 30 s: a close within 5 s is the
	// disable's own.
	wantClosed(t, sock, 1008, "Your account has been disabled.")
	if name := signedInAs(t, bo); name != "" {
		t.Errorf("bo's session still signed in as %q", name)
	}
	if s, err := bo.Dial("general", nil); err == nil {
		s.Close()
		t.Error("a disabled user's socket opened again")
	}
	login := func(pw string) *client.Response {
		c := h.client()
		return submit(t, c, "/login", "/login", url.Values{"username": {"bob"}, "password": {pw}})
	}
	res = login(adminPW)
	wantPage(t, res, http.StatusForbidden, "This account has been disabled. Ask your Natter&#39;s admin.")
	if res = login("wrong-password-1"); res.Status != http.StatusUnauthorized || strings.Contains(res.Body, "disabled") {
		t.Errorf("a wrong password for a disabled account: %d, body tells of it: %v", res.Status, strings.Contains(res.Body, "disabled"))
	}
	// A session made before the disable (a cookie kept elsewhere) is ended
	// on its next request too.
	if _, err := h.DB.SQL.Exec(`UPDATE users SET disabled_at = NULL WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	other := h.client()
	if err := other.Login("bob", adminPW); err != nil {
		t.Fatal(err)
	}
	if err := h.DB.SetDisabled(t.Context(), 2, true); err != nil {
		t.Fatal(err)
	}
	if name := signedInAs(t, other); name != "" {
		t.Errorf("a session of a disabled account still signed in as %q", name)
	}

	res = submit(t, ana, "/admin", "/admin/users/2/enable", nil)
	wantRedirect(t, res, "/admin?done=enabled&user=2")
	wantPage(t, get(t, ana, res.Location), http.StatusOK, "bob can sign in again.")
	if err := h.client().Login("bob", adminPW); err != nil {
		t.Errorf("sign-in after enabling: %v", err)
	}
}

func TestAdminCannotDisableSelf(t *testing.T) {
	h, ana, _ := adminHarness(t)
	tok := pageCSRF(get(t, ana, "/admin").Body)
	res := post(t, ana, "/admin/users/1/disable", url.Values{"csrf": {tok}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := byTestID(res.Body, "admin-error"); got != "You cannot disable your own account: you would lock yourself out. Another admin can." {
		t.Errorf("error %q", got)
	}
	if u, _ := h.DB.UserByID(t.Context(), 1); u.Disabled() {
		t.Error("the admin disabled themself")
	}
	if signedInAs(t, ana) != "ana" {
		t.Error("the admin was signed out")
	}
}

func TestSignUpModes(t *testing.T) {
	_, ana, _ := adminHarness(t)
	tests := []struct {
		mode, notice, page string
	}{
		{"invite", "Sign-up is now by invitation only.", "Sign-up here is by invitation: ask an admin for a link."},
		{"closed", "Sign-up is now closed; invitation links still work.", "Sign-up is closed on this Natter."},
	}
	for _, tt := range tests {
		res := submit(t, ana, "/admin", "/admin/signup", url.Values{"mode": {tt.mode}})
		wantRedirect(t, res, "/admin?done=signup&mode="+tt.mode)
		wantPage(t, get(t, ana, res.Location), http.StatusOK, tt.notice, `value="`+tt.mode+`" checked`)
		visitor, _ := client.New(ana.Base.String())
		form := get(t, visitor, "/register")
		wantPage(t, form, http.StatusForbidden, tt.page)
		if strings.Contains(form.Body, `name="password"`) {
			t.Errorf("%s: the sign-up form is shown", tt.mode)
		}
		res = post(t, visitor, "/register", url.Values{"csrf": {pageCSRF(form.Body)}, "username": {"cyd"}, "email": {"cyd@example.com"},
			"password": {adminPW}, "password_confirm": {adminPW}})
		wantPage(t, res, http.StatusForbidden, tt.page)
	}
	res := submit(t, ana, "/admin", "/admin/signup", url.Values{"mode": {"everyone"}})
	wantPage(t, res, http.StatusUnprocessableEntity, "Choose how people may sign up: open, by invitation, or closed.")
	wantRedirect(t, submit(t, ana, "/admin", "/admin/signup", url.Values{"mode": {"open"}}), "/admin?done=signup&mode=open")
	visitor, _ := client.New(ana.Base.String())
	if err := visitor.Register("cyd", "cyd@example.com", adminPW); err != nil {
		t.Errorf("sign-up in open mode: %v", err)
	}
}

// An invitation link admits one sign-up, in invite and closed mode alike,
// and says so when it is used, expired, revoked or unknown.
func TestInvitations(t *testing.T) {
	h, ana, _ := adminHarness(t)
	wantRedirect(t, submit(t, ana, "/admin", "/admin/signup", url.Values{"mode": {"invite"}}), "/admin?done=signup&mode=invite")
	link := invite(t, ana)
	token := strings.TrimPrefix(link, "/register?invite=")
	if len(token) != 43 {
		t.Fatalf("link %q", link)
	}
	// Shown once: the admin page does not show it again.
	if strings.Contains(get(t, ana, "/admin").Body, token) {
		t.Error("the admin page shows the link again")
	}

	cy := h.client()
	form := get(t, cy, link)
	wantPage(t, form, http.StatusOK, "Create your account")
	if got := inputValue(t, form.Body, "/register", "invite"); got != token {
		t.Errorf("hidden invite field %q", got)
	}
	// A mistake keeps the invitation in the form.
	res := submit(t, cy, link, "/register", url.Values{"username": {"cyd"}, "email": {"not-an-address"},
		"password": {adminPW}, "password_confirm": {adminPW}})
	wantPage(t, res, http.StatusUnprocessableEntity)
	if got := inputValue(t, res.Body, "/register", "invite"); got != token {
		t.Errorf("after a mistake the invite field is %q", got)
	}
	res = submit(t, cy, link, "/register", url.Values{"username": {"cyd"}, "email": {"cyd@example.com"},
		"password": {adminPW}, "password_confirm": {adminPW}})
	wantRedirect(t, res, "/rooms")
	if signedInAs(t, cy) != "cyd" {
		t.Fatal("cy is not signed in after signing up with the link")
	}
	dee := h.client()
	wantPage(t, get(t, dee, link), http.StatusGone, "This invitation has been used")
	if got := byTestID(get(t, ana, "/admin").Body, "invite-state"); !strings.HasPrefix(got, "used by cyd on ") {
		t.Errorf("invitation state %q", got)
	}

	// Closed mode: a new link still works.
	wantRedirect(t, submit(t, ana, "/admin", "/admin/signup", url.Values{"mode": {"closed"}}), "/admin?done=signup&mode=closed")
	link = invite(t, ana)
	res = submit(t, dee, link, "/register", url.Values{"username": {"dee"}, "email": {"dee@example.com"},
		"password": {adminPW}, "password_confirm": {adminPW}})
	wantRedirect(t, res, "/rooms")

	// Revoked.
	link = invite(t, ana)
	page := get(t, ana, "/admin")
	id := ""
	doc, _ := html.Parse(strings.NewReader(page.Body))
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "data-invite") != "" && id == "" {
			id = attr(n, "data-invite") // newest first
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	res = submit(t, ana, "/admin", "/admin/invites/"+id+"/revoke", nil)
	wantRedirect(t, res, "/admin?done=revoked")
	wantPage(t, get(t, ana, res.Location), http.StatusOK, "The invitation has been revoked: its link no longer works.")
	eve := h.client()
	wantPage(t, get(t, eve, link), http.StatusGone, "This invitation has been revoked")
	res = post(t, ana, "/admin/invites/"+id+"/revoke", url.Values{"csrf": {pageCSRF(page.Body)}})
	wantPage(t, res, http.StatusConflict, "This invitation was already revoked.")

	// Unknown, and garbage.
	wantPage(t, get(t, eve, "/register?invite=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), http.StatusForbidden, "This invitation link does not work")
	wantPage(t, get(t, eve, "/register?invite=%3Cscript%3E"), http.StatusForbidden, "This invitation link does not work")

	// Expired: 7 days on the database clock.
	link = invite(t, ana)
	wantPage(t, get(t, eve, link), http.StatusOK, "Create your account")
	h.AdvanceClock(7*24*time.Hour + time.Minute)
	wantPage(t, get(t, eve, link), http.StatusGone, "This invitation has expired")
	// The form's post, sent after the link expired, is refused too.
	form2 := post(t, eve, "/register", url.Values{"csrf": {pageCSRF(get(t, eve, "/login").Body)}, "invite": {strings.TrimPrefix(link, "/register?invite=")},
		"username": {"eve"}, "email": {"eve@example.com"}, "password": {adminPW}, "password_confirm": {adminPW}})
	wantPage(t, form2, http.StatusGone, "This invitation has expired")
	if _, err := h.DB.UserByLogin(t.Context(), "eve"); err == nil {
		t.Error("eve signed up with an expired link")
	}
	// No token reaches the log.
	if strings.Contains(h.Log.String(), token) {
		t.Error("the log holds an invitation token")
	}
}

// Sign-ups with a working invitation are exempt from the sign-up limits;
// a made-up one is not.
func TestInvitedSignUpsAreNotLimited(t *testing.T) {
	_, ana, _ := adminHarness(t)
	link := invite(t, ana)
	token := strings.TrimPrefix(link, "/register?invite=")
	visitor, _ := client.New(ana.Base.String())
	tok := pageCSRF(get(t, visitor, link).Body)
	mistake := func(invite string) int {
		return post(t, visitor, "/register", url.Values{"csrf": {tok}, "invite": {invite}, "username": {"cyd"}, "email": {"cyd@example.com"},
			"password": {adminPW}, "password_confirm": {"not-the-same-42"}}).Status
	}
	for i := range handlers.FailedSignUps + 5 {
		if st := mistake(token); st != http.StatusUnprocessableEntity {
			t.Fatalf("invited mistake %d: status %d, want 422", i+1, st)
		}
	}
	fake := strings.Repeat("A", 43)
	for i := range handlers.FailedSignUps {
		if st := mistake(fake); st != http.StatusForbidden {
			t.Fatalf("made-up invitation %d: status %d, want 403", i+1, st)
		}
	}
	if st := mistake(fake); st != http.StatusTooManyRequests {
		t.Errorf("past the limit with a made-up invitation: %d, want 429", st)
	}
	// The invited person is still let in.
	if st := mistake(token); st != http.StatusUnprocessableEntity {
		t.Errorf("invited after others hit the limit: %d, want 422", st)
	}
}

// Last seen is written at sign-in and then by a request only once it is
// LastSeenEvery old.
func TestLastSeen(t *testing.T) {
	h, _, bo := adminHarness(t)
	seen := func() time.Time {
		t.Helper()
		u, err := h.DB.UserByLogin(t.Context(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		return u.LastSeen
	}
	first := seen()
	if time.Since(first) > time.Minute {
		t.Fatalf("last seen %v after signing up", first)
	}
	h.AdvanceClock(4 * time.Minute)
	get(t, bo, "/rooms")
	if got := seen(); !got.Equal(first) {
		t.Errorf("written again after 4 minutes: %v, was %v", got, first)
	}
	h.AdvanceClock(2 * time.Minute) // 6 minutes in all
	get(t, bo, "/rooms")
	if got := seen(); got.Sub(first) < 6*time.Minute-time.Second {
		t.Errorf("last seen %v after 6 minutes, was %v", got, first)
	}
}
