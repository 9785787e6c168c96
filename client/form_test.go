package client

import (
	"errors"
	"net/url"
	"testing"
)

func TestFormFields(t *testing.T) {
	page := `<html><body>
<form action="/logout" method="post"><input type="hidden" name="csrf" value="T1"></form>
<form action="/login" method="post">
  <input type="hidden" name="csrf" value="T1">
  <input type="hidden" name="next" value="/rooms/a?b=1&amp;c=2">
  <input name="username" value="al&lt;ice">
  <input type="password" name="password">
  <textarea name="note">two
lines</textarea>
  <input type="checkbox" name="remember" value="on">
  <button type="submit" name="go" value="1">Sign in</button>
</form></body></html>`
	got, err := FormFields(page, "/login")
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"csrf": {"T1"}, "next": {"/rooms/a?b=1&c=2"}, "username": {"al<ice"},
		"password": {""}, "note": {"two\nlines"},
	}
	if got.Encode() != want.Encode() {
		t.Errorf("FormFields = %v\nwant %v", got, want)
	}
	if _, err := FormFields(page, "/register"); !errors.Is(err, ErrNoForm) {
		t.Errorf("missing form: err = %v, want ErrNoForm", err)
	}
	if tok := CSRF(page); tok != "T1" {
		t.Errorf("CSRF = %q, want T1", tok)
	}
}
