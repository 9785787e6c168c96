package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"natter/handlers"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	pages := map[string]*struct{ status int }{
		"/":                     {http.StatusOK},
		"/login":                {http.StatusOK},
		"/register":             {http.StatusOK},
		"/password/forgot":      {http.StatusOK},
		"/no/such/page":         {http.StatusNotFound},
		"/password/reset/bogus": {http.StatusBadRequest},
	}
	for path, p := range pages {
		res := get(t, c, path)
		if res.Status != p.status {
			t.Errorf("%s: status %d, want %d", path, res.Status, p.status)
		}
		hd := res.Header
		csp := hd.Get("Content-Security-Policy")
		for _, d := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'", "script-src 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe code: %q", path, csp)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"Content-Type":           "text/html; charset=utf-8",
			"X-Frame-Options":        "DENY",
		} {
			if got := hd.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
		if hd.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS header present", path)
		}
	}
	// Pages with personal data stay out of caches.
	for _, path := range []string{"/login", "/register", "/password/forgot"} {
		if got := get(t, c, path).Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", path, got)
		}
	}
}

// setCookies parses a response's Set-Cookie headers by name.
func setCookies(hd http.Header) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, ck := range (&http.Response{Header: hd}).Cookies() {
		out[ck.Name] = ck
	}
	return out
}

func TestCookieFlagsOverHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := get(t, h.client(), "/login")
	cookies := setCookies(res.Header)
	for _, name := range []string{"natter_session", "csrf_"} {
		ck := cookies[name]
		if ck == nil {
			t.Errorf("no %s cookie in %q", name, res.Header.Values("Set-Cookie"))
			continue
		}
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure {
			t.Errorf("%s: %q, want HttpOnly, SameSite=Lax, Path=/, no Domain, not Secure over http", name, ck.Raw)
		}
	}
}

// TestCookieFlagsOverHTTPS builds the app for an https base URL and asks it
// for the sign-in page through Fiber's in-memory Test.
func TestCookieFlagsOverHTTPS(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // for its database, mailer and other parts
	app, err := handlers.New(handlers.Config{BaseURL: "https://chat.example"}, h.Deps)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	req, _ := http.NewRequest(http.MethodGet, "https://chat.example/login", nil)
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	cookies := setCookies(res.Header)
	for _, name := range []string{"__Host-natter_session", "__Host-csrf_"} {
		ck := cookies[name]
		if ck == nil {
			t.Errorf("no %s cookie in %q", name, res.Header.Values("Set-Cookie"))
			continue
		}
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("%s: %q, want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", name, ck.Raw)
		}
	}
	if _, ok := cookies["natter_session"]; ok {
		t.Error("the un-prefixed session cookie is set over https")
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "wss://chat.example") {
		t.Errorf("CSP %q does not allow the wss origin", csp)
	}
}
