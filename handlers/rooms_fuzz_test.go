package handlers

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRoomSlug: whatever is typed, the result is a valid slug or a problem
// to show, never both, and a valid slug maps to itself.
func FuzzRoomSlug(f *testing.F) {
	for _, s := range []string{"General", "  my room ", "a", strings.Repeat("x", 49), "<script>", "ünïcode", "\xff", "messages", "a\u200bb", "\u202egnp"} {
		f.Add(s)
	}
	valid := regexp.MustCompile(`^[a-z0-9_-]{1,48}$`)
	f.Fuzz(func(t *testing.T, name string) {
		slug, problem := roomSlug(name)
		if (slug == "") == (problem == "") {
			t.Fatalf("roomSlug(%q) = %q, %q: want exactly one", name, slug, problem)
		}
		if slug != "" {
			if !valid.MatchString(slug) || !validSlug(slug) {
				t.Fatalf("roomSlug(%q) = %q, not a valid slug", name, slug)
			}
			if again, _ := roomSlug(slug); again != slug {
				t.Fatalf("roomSlug(%q) = %q, not stable", slug, again)
			}
		}
	})
}

// FuzzCleanMessage: a cleaned message is valid UTF-8 when its input is,
// trimmed, free of control characters other than newline and tab, and
// within the limit; or it is refused with a reason.
func FuzzCleanMessage(f *testing.F) {
	for _, s := range []string{"hello", "  padded\r\n", "\x00\x07bell", strings.Repeat("é", 2001), "line\nbreak\ttab", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		text, problem := cleanMessage(raw, 2000)
		if problem != "" {
			if text != "" || utf8.RuneCountInString(raw) <= 2000 {
				t.Fatalf("cleanMessage(%q) refused with %q", raw, problem)
			}
			return
		}
		if utf8.ValidString(raw) && !utf8.ValidString(text) {
			t.Fatalf("cleanMessage(%q) = %q: invalid UTF-8", raw, text)
		}
		if text != strings.TrimSpace(text) || utf8.RuneCountInString(text) > 2000 {
			t.Fatalf("cleanMessage(%q) = %q: untrimmed or too long", raw, text)
		}
		for _, r := range text {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || r == '\r' {
				t.Fatalf("cleanMessage(%q) = %q: control character %U", raw, text, r)
			}
		}
	})
}

// FuzzSafeNext: the sign-in redirect target is always a local path.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/rooms/x", "//evil.example", "https://evil.example", "/\\evil.example", "/%2F%2Fevil", "javascript:alert(1)", "/ok?x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q: not a local path", next, got)
		}
	})
}

// FuzzResetToken: only 43-character base64url strings pass the token
// shape check, so nothing else reaches the database.
func FuzzResetToken(f *testing.F) {
	for _, s := range []string{newResetToken(), "", "a", strings.Repeat("A", 10000), "' OR 1=1--", "\xff\xfe", strings.Repeat("+", 43)} {
		f.Add(s)
	}
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	f.Fuzz(func(t *testing.T, token string) {
		if looksLikeToken(token) && !shape.MatchString(token) {
			t.Fatalf("looksLikeToken(%q) = true", token)
		}
	})
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 2001: "2,001", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
