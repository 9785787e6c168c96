package handlers

import (
	"strings"

	"github.com/rivo/uniseg"
)

// maxEmoji caps a reaction's bytes: the longest emoji sequences (a family
// with skin tones, a subdivision flag) take about 40.
const maxEmoji = 64

// oneEmoji reports whether s, trimmed, is exactly one emoji: one grapheme
// cluster (uniseg, which follows Unicode's segmentation rules) made of
// emoji code points and the characters that join or modify them. The
// standard library has no Emoji property, so the ranges are written out
// here: the emoji blocks and the symbols that have emoji forms.
func oneEmoji(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxEmoji || uniseg.GraphemeClusterCount(s) != 1 {
		return "", false
	}
	runes := []rune(s)
	first := runes[0]
	if first == '#' || first == '*' || ('0' <= first && first <= '9') {
		// A keycap: the character, an optional emoji selector, U+20E3.
		if len(runes) >= 2 && runes[len(runes)-1] == 0x20E3 && (len(runes) == 2 || (len(runes) == 3 && runes[1] == 0xFE0F)) {
			return s, true
		}
		return "", false
	}
	if !emojiRune(first) {
		return "", false
	}
	for _, r := range runes[1:] {
		if !emojiRune(r) && !emojiJoiner(r) {
			return "", false
		}
	}
	return s, true
}

// emojiRune reports whether r is in a block of emoji or a symbol with an
// emoji form.
func emojiRune(r rune) bool {
	switch {
	case 0x1F000 <= r && r <= 0x1FAFF, // emoji blocks, flags' letters, skin tones
		0x2600 <= r && r <= 0x27BF, // miscellaneous symbols, dingbats
		0x2300 <= r && r <= 0x23FF, // ⌚ ⏰
		0x2B00 <= r && r <= 0x2BFF, // ⭐ ⬆
		0x2190 <= r && r <= 0x21FF, // arrows
		0x25A0 <= r && r <= 0x25FF, // ▶ ◻
		0x2900 <= r && r <= 0x297F: // ⤴
		return true
	}
	switch r {
	case 0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2, 0x3030, 0x303D, 0x3297, 0x3299:
		return true
	}
	return false
}

// emojiJoiner reports whether r modifies or joins emoji inside one: the
// presentation selectors, the zero-width joiner, the keycap mark and the
// tags of subdivision flags.
func emojiJoiner(r rune) bool {
	return r == 0xFE0F || r == 0xFE0E || r == 0x200D || r == 0x20E3 || (0xE0020 <= r && r <= 0xE007F)
}
