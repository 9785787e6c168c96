package views

import "regexp"

// textPart is a run of message text, or a link found in it.
type textPart struct {
	text string
	url  bool
}

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
		parts = append(parts, textPart{text: text[l[0]:l[1]], url: true})
		prev = l[1]
	}
	if prev < len(text) {
		parts = append(parts, textPart{text: text[prev:]})
	}
	return parts
}
