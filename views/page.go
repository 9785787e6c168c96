package views

import (
	"encoding/json"

	"natter/db"
)

// Page is what every full page's layout needs.
type Page struct {
	Title string
	// User is the signed-in user, nil for a visitor.
	User *db.User
	// CSRF is the token every state-changing form and htmx request carries.
	CSRF string
	// Notice is a one-off message shown at the top of the main region.
	Notice string
	// AdminWelcome tells the first admin, while theirs is the only
	// account, that they are the admin, with a link to /admin.
	AdminWelcome bool
	// Next is where to go after signing in or up, carried through the
	// account pages and their links; "" means the lobby.
	Next string
	// FullHeight makes the page fill the window with no footer (the room).
	FullHeight bool
	// Assets are the versioned URLs of the embedded CSS and scripts.
	Assets Assets
	// Shared says rooms are shared by several nodes: their history lives
	// in the broker's memory, so one node restarting keeps it.
	Shared bool
	// WrongAddress, when set, says that the page was opened at an address
	// Natter is not set up for (so its forms will be refused); BaseURL is
	// the address it is set up for.
	WrongAddress, BaseURL string
}

// Assets are the URLs of the static files, each carrying its content hash so
// browsers may cache them for a year.
type Assets struct {
	CSS, HTMX, WS, JS string
}

// Form carries what a user typed and what was wrong with it, so a form can
// be shown again with nothing lost (never the password) and each error next
// to its field.
type Form struct {
	Values map[string]string
	Errors map[string]string
	// Error is a message for the form as a whole, such as a failed sign-in.
	Error string
}

// Value returns what the user typed in field name.
func (f Form) Value(name string) string { return f.Values[name] }

// Err returns the error for field name, or "".
func (f Form) Err(name string) string { return f.Errors[name] }

// htmxHeaders is the hx-headers value that puts the CSRF token on every
// htmx request.
func htmxHeaders(csrf string) string {
	b, _ := json.Marshal(map[string]string{"X-Csrf-Token": csrf})
	return string(b)
}

// htmxConfig keeps htmx inside the content security policy (no eval, no
// inline indicator styles) and keeps chat pages out of the browser's
// history cache.
const htmxConfig = `{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"selfRequestsOnly":true}`
