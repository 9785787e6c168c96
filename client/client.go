// Package client speaks Natter's HTTP contract the way a browser does: it
// fetches a form, keeps its hidden fields and the cookies, posts it, and
// opens room sockets with the site's Origin. Tests and the load generator
// use it; it knows only the public contract, not Natter's internals.
package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"
)

// Client is one visitor with its own cookies.
type Client struct {
	// Base is the server's base URL, such as http://127.0.0.1:8080.
	Base *url.URL
	// HTTP sends the requests; it does not follow redirects, so callers see
	// the 303s the contract promises.
	HTTP *http.Client
}

// Response is a finished request: status, redirect target and body.
type Response struct {
	Status   int
	Location string
	Header   http.Header
	Body     string
}

// New returns a client for the server at base with an empty cookie jar.
func New(base string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("client: bad base URL %q", base)
	}
	jar, _ := cookiejar.New(nil)
	return &Client{
		Base: u,
		HTTP: &http.Client{
			Jar:     jar,
			Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// URL resolves a path against the base URL.
func (c *Client) URL(path string) string { return c.Base.String() + path }

// Get fetches path.
func (c *Client) Get(path string) (*Response, error) {
	req, err := http.NewRequest(http.MethodGet, c.URL(path), nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// Post sends form values to path as a browser form would, with this
// site's Origin.
func (c *Client) Post(path string, form url.Values) (*Response, error) {
	req, err := http.NewRequest(http.MethodPost, c.URL(path), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.Base.Scheme+"://"+c.Base.Host)
	return c.Do(req)
}

// Do sends req and reads the whole body.
func (c *Client) Do(req *http.Request) (*Response, error) {
	res, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: res.StatusCode, Location: res.Header.Get("Location"), Header: res.Header, Body: string(b)}, nil
}

// Submit fetches page, finds the form that posts to action, fills in
// values over the form's own fields (hidden ones included: the CSRF
// token), and posts it.
func (c *Client) Submit(page, action string, values url.Values) (*Response, error) {
	res, err := c.Get(page)
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("client: GET %s: status %d", page, res.Status)
	}
	form, err := FormFields(res.Body, action)
	if err != nil {
		return nil, fmt.Errorf("client: GET %s: %w", page, err)
	}
	for k, v := range values {
		form[k] = v
	}
	return c.Post(action, form)
}

// ErrRefused is returned when the server answered a sign-up or sign-in
// with something other than the success redirect.
var ErrRefused = errors.New("client: refused")

// Register signs up a new account (and is then signed in).
func (c *Client) Register(username, email, password string) error {
	res, err := c.Submit("/register", "/register", url.Values{
		"username": {username}, "email": {email},
		"password": {password}, "password_confirm": {password},
	})
	if err != nil {
		return err
	}
	if res.Status != http.StatusSeeOther || res.Location != "/rooms" {
		return fmt.Errorf("%w: register %s: status %d", ErrRefused, username, res.Status)
	}
	return nil
}

// Login signs in with a user name or address.
func (c *Client) Login(username, password string) error {
	res, err := c.Submit("/login", "/login", url.Values{"username": {username}, "password": {password}})
	if err != nil {
		return err
	}
	if res.Status != http.StatusSeeOther {
		return fmt.Errorf("%w: login %s: status %d", ErrRefused, username, res.Status)
	}
	return nil
}

// Cookie returns the value of the named cookie for the base URL.
func (c *Client) Cookie(name string) string {
	for _, ck := range c.HTTP.Jar.Cookies(c.Base) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// CookieHeader is the Cookie header a browser would send to the site.
func (c *Client) CookieHeader() string {
	var parts []string
	for _, ck := range c.HTTP.Jar.Cookies(c.Base) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}
