package e2e

import (
	"regexp"
	"testing"
)

// Two people are told apart in a room: every message and member entry has
// a visible badge (the initial on a colour from the account id) and the
// account number on hover; the badge is not part of the text.
func TestAuthorsHaveBadges(t *testing.T) {
	e := startEnv(t, nil)
	alice, bob := e.newUser("alice"), e.newUser("bob")
	alice.register()
	alice.enterRoom("general")
	bob.register()
	bob.enterRoom("general")
	alice.send("hello")
	bob.waitMessage("hello")
	bob.waitFor("alice in the member list", `document.querySelector('#members [data-member="alice"]') !== null`)

	type badge struct {
		Initial string  `json:"initial"`
		Bg      string  `json:"bg"`
		Width   float64 `json:"width"`
		Title   string  `json:"title"`
	}
	look := func(sel string) badge {
		return eval[badge](bob, `(function(){var el=document.querySelector(`+jsString(sel)+`);
			var m=el.querySelector('.author-mark'); if(!m) return {};
			return {initial:getComputedStyle(m,'::before').content, bg:getComputedStyle(m).backgroundColor,
				width:m.getBoundingClientRect().width, title:el.querySelector('[title]').title};})()`)
	}
	title := regexp.MustCompile(`^(alice|bob) \(account #[0-9]+\)$`)
	msg, memA, memB := look(`#messages .msg`), look(`#members [data-member="alice"]`), look(`#members [data-member="bob"]`)
	for _, tt := range []struct {
		where   string
		got     badge
		initial string
	}{{"alice's message", msg, `"A"`}, {"alice in the list", memA, `"A"`}, {"bob in the list", memB, `"B"`}} {
		if tt.got.Initial != tt.initial || tt.got.Width < 10 || tt.got.Bg == "rgba(0, 0, 0, 0)" || !title.MatchString(tt.got.Title) {
			t.Errorf("%s: badge %+v, want initial %s on a colour, at least 10 px wide, and the account on hover", tt.where, tt.got, tt.initial)
		}
	}
	if msg.Bg != memA.Bg || msg.Title != memA.Title {
		t.Errorf("alice's message badge %+v differs from her member entry %+v", msg, memA)
	}
	if memA.Bg == memB.Bg || memA.Title == memB.Title {
		t.Errorf("alice %+v and bob %+v look alike", memA, memB)
	}
	// The badge is drawn by CSS: the text of the list and the author line
	// stay the names alone.
	if got := bob.text("#members"); got != "alice bob" && got != "bob alice" {
		t.Errorf("member list text %q, want the two names", got)
	}
	if got := bob.shown(); len(got) != 1 || got[0].Author != "alice" {
		t.Errorf("bob sees %+v, want one message from alice", got)
	}
	bob.noScriptErrors()
}
