package views

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// textPart is a run of message text, or a link found in it.
type textPart struct {
	text string // as shown
	url  bool
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

// linkPattern finds http(s) links; trailing punctuation is left out so "see
// https://example.com." links without the full stop.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+[^\s<>"'.,;:!?)\]}]`)

// linkify splits text into plain runs and links. The view escapes both; a
// link becomes an anchor only for the http and https schemes.
func linkify(text string) []textPart {
	locs := linkPattern.FindAllStringIndex(text, -1)
	if len(locs) == 0 {
		return []textPart{{text: text}}
	}
	parts := make([]textPart, 0, 2*len(locs)+1)
	prev := 0
	for _, l := range locs {
		if l[0] > prev {
			parts = append(parts, textPart{text: text[prev:l[0]]})
		}
		parts = append(parts, linkPart(text[l[0]:l[1]]))
		prev = l[1]
	}
	if prev < len(text) {
		parts = append(parts, textPart{text: text[prev:]})
	}
	return parts
}

// linkPart neutralises the hidden characters of a link: a right-to-left
// override can make "http://evil.example/\u202egnp.exe" read as
// "...exe.png". The target gets them percent-encoded, the text shows each
// one by its code point.
func linkPart(link string) textPart {
	if strings.IndexFunc(link, isHidden) < 0 {
		return textPart{text: link, url: true, href: link}
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
	return textPart{text: shown.String(), url: true, href: href.String(), hidden: true}
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
