package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"natter/client"
	"natter/handlers"
)

// Behind a TLS-terminating proxy (X-Forwarded-Proto: https from a trusted
// address) a same-origin form post passes Fiber's Referer check, which
// Referrer-Policy: same-origin keeps possible; a cross-site Referer is
// refused; cookies are __Host- and Secure, and HSTS is sent.
func TestBehindTLSProxy(t *testing.T) {
	h := newHarness(t, func(c *harnessConfig) { c.behindTLSProxy = true })
	origin := "https://" + strings.TrimPrefix(h.URL, "http://")

	send := func(method, path, cookie, referer, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.URL+path, strings.NewReader(body))
		req.Header.Set("X-Forwarded-Proto", "https")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if referer != "" {
			req.Header.Set("Referer", referer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	res, page := send("GET", "/login", "", "", "")
	if got := res.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS = %q", got)
	}
	var cookies []string
	for _, c := range res.Cookies() {
		if !c.Secure || !c.HttpOnly || !strings.HasPrefix(c.Name, "__Host-") || c.Path != "/" || c.Domain != "" {
			t.Errorf("cookie %s: Secure %v HttpOnly %v Path %q Domain %q", c.Name, c.Secure, c.HttpOnly, c.Path, c.Domain)
		}
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	if len(cookies) != 2 {
		t.Fatalf("cookies %q, want the session and the CSRF cookie", cookies)
	}
	form := url.Values{"csrf": {client.CSRF(page)}, "username": {"nobody"}, "password": {"wrong-password-1"}}.Encode()
	cookie := strings.Join(cookies, "; ")

	// Same-origin: the CSRF check passes and the sign-in itself fails.
	if res, body := send("POST", "/login", cookie, origin+"/login", form); res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, handlers.ErrBadLogin) {
		t.Errorf("same-origin post: status %d, want 401 with the sign-in error", res.StatusCode)
	}
	// Another site's Referer, or none at all, is refused before the form.
	for _, ref := range []string{"https://evil.example/login", ""} {
		if res, body := send("POST", "/login", cookie, ref, form); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "This form has expired") {
			t.Errorf("post with Referer %q: status %d, want 403", ref, res.StatusCode)
		}
	}
}
