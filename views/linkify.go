package views

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// textPart is a link found in a message text, as the formatter renders
// it (format.go).
type textPart struct {
	text string // as shown
	// href is a link's target: its text with hidden characters
	// percent-encoded.
	href string
	// hidden marks a link that contained hidden characters (bidi controls,
	// invisible formatting, unusual spaces): its text shows each of them
	// as ⟦U+XXXX⟧ and the link is marked.
	hidden bool
}

// hiddenLinkTitle is the tooltip of a link with hidden characters.
const hiddenLinkTitle = "This link contains hidden characters"

// linkPart neutralises the hidden characters of a link: a right-to-left
// override can make "http://evil.example/\u202egnp.exe" read as
// "...exe.png". The target gets them percent-encoded, the text shows each
// one by its code point.
func linkPart(link string) textPart {
	if strings.IndexFunc(link, isHidden) < 0 {
		return textPart{text: link, href: link}
	}
	var shown, href strings.Builder
	for _, r := range link {
		if !isHidden(r) {
			shown.WriteRune(r)
			href.WriteRune(r)
			continue
		}
		fmt.Fprintf(&shown, "⟦U+%04X⟧", r)
		href.WriteString(url.PathEscape(string(r)))
	}
	return textPart{text: shown.String(), href: href.String(), hidden: true}
}

// isHidden reports whether r is invisible or reorders text around it:
// format characters (bidi controls, zero-width joiners and spaces, soft
// hyphen, BOM, tags), line and paragraph separators, spaces other than
// the ASCII one, controls, variation selectors and the Hangul fillers.
func isHidden(r rune) bool {
	switch {
	case r == ' ':
		return false
	case unicode.In(r, unicode.Cf, unicode.Cc, unicode.Zl, unicode.Zp, unicode.Zs, unicode.Variation_Selector):
		return true
	}
	switch r {
	case 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0:
		return true
	}
	return false
}
