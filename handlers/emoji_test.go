package handlers

import (
	"strings"
	"testing"
	"unicode"

	"github.com/rivo/uniseg"
)

func TestOneEmoji(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"👍", "👍", true},
		{" 🎉 ", "🎉", true},
		{"❤️", "❤️", true},
		{"👍🏽", "👍🏽", true}, // skin tone
		{"👨‍👩‍👧‍👦", "👨‍👩‍👧‍👦", true}, // joined family
		{"🇫🇷", "🇫🇷", true},           // flag
		{"🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", true}, // subdivision flag
		{"1️⃣", "1️⃣", true},         // keycap
		{"", "", false},
		{"ok", "", false},
		{"1", "", false},
		{"👍👍", "", false},
		{"👍 ", "👍", true},
		{"👍\u0301", "", false}, // a combining accent on it
		{"<b>", "", false},
		{"é", "", false},
		{"中", "", false},
		{"\u200d", "", false},
	} {
		got, ok := oneEmoji(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("oneEmoji(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzOneEmoji: whatever is typed, an accepted reaction is one grapheme
// cluster, short, with no letter, digit (but a keycap's), markup or
// space in it.
func FuzzOneEmoji(f *testing.F) {
	for _, s := range []string{"👍", "🇫🇷", "1️⃣", "👨‍👩‍👧‍👦", "<script>", "a", "👍\u0301", "\u202e👍"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, ok := oneEmoji(s)
		if !ok {
			return
		}
		if uniseg.GraphemeClusterCount(e) != 1 || len(e) > maxEmoji || strings.ContainsAny(e, "<>&\"' ") {
			t.Fatalf("accepted %q from %q", e, s)
		}
		for i, r := range e {
			if unicode.IsLetter(r) || unicode.IsSpace(r) || (unicode.IsDigit(r) && i != 0) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("accepted %q (rune %U) from %q", e, r, s)
			}
		}
	})
}
