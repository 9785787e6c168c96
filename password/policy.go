package password

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinLength is the shortest password accepted, counted in characters
// (runes), since that is what the person typing it counts.
const MinLength = 8

// maxSimilarity is Django's default for UserAttributeSimilarityValidator:
// a password at least this similar to the user name or email is refused.
const maxSimilarity = 0.7

// minContainedLength is the shortest user name (or email local part) that
// the password may not contain; shorter ones ("al") occur by chance.
const minContainedLength = 3

// commonPasswordsGz is Django's list of 19,727 common passwords, lower-cased;
// see COMMON-PASSWORDS.md for its source and licence. It stays gzipped in
// the binary (81 KB instead of 170 KB).
//
//go:embed common-passwords.txt.gz
var commonPasswordsGz []byte

// Problem is one rule a proposed password breaks.
type Problem struct {
	// Code names the rule for programs and tests: "too_short", "too_long",
	// "too_similar_username", "too_similar_email", "too_common", "numeric".
	Code string
	// Message is a sentence to show next to the password field.
	Message string
}

// Policy decides whether a new password is acceptable. Build it once with
// NewPolicy and share it: it holds the decompressed common-password set.
type Policy struct {
	common map[string]struct{}
}

// NewPolicy decompresses the embedded common-password list. It fails only if
// the embedded file is damaged, which a test catches before release.
func NewPolicy() (*Policy, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		return nil, fmt.Errorf("password: reading common password list: %w", err)
	}
	common := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			common[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password: reading common password list: %w", err)
	}
	return &Policy{common: common}, nil
}

// Check lists every rule pw breaks, in a fixed order; none means pw is
// acceptable. username and email may be empty (then they are not compared).
// Registration, reset and password change all call it, so the rules agree.
func (p *Policy) Check(pw, username, email string) []Problem {
	if len(pw) > MaxLength {
		// Only this problem: the similarity rules cost time in proportion
		// to the length, and an attacker chooses the length.
		return []Problem{{"too_long", fmt.Sprintf(
			"This password is too long. It must contain at most %d bytes (accented letters and emoji take 2 to 4 each).", MaxLength)}}
	}
	var probs []Problem
	if utf8.RuneCountInString(pw) < MinLength {
		probs = append(probs, Problem{"too_short", fmt.Sprintf(
			"This password is too short. It must contain at least %d characters.", MinLength)})
	}
	lower := strings.ToLower(pw)
	if similarToUsername(lower, strings.ToLower(username)) {
		probs = append(probs, Problem{"too_similar_username", "This password is too similar to the user name."})
	}
	if similarToEmail(lower, strings.ToLower(email)) {
		probs = append(probs, Problem{"too_similar_email", "This password is too similar to the email address."})
	}
	if _, ok := p.common[strings.TrimSpace(lower)]; ok {
		probs = append(probs, Problem{"too_common", "This password is too common."})
	}
	if isNumeric(pw) {
		probs = append(probs, Problem{"numeric", "This password is entirely numeric."})
	}
	return probs
}

// isNumeric reports whether pw is non-empty and all digits, in any script,
// as Django's str.isdigit() test does.
func isNumeric(pw string) bool {
	if pw == "" {
		return false
	}
	for _, r := range pw {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

func similarToUsername(pw, username string) bool {
	if username == "" {
		return false
	}
	if contains(pw, username) {
		return true
	}
	return similarToParts(pw, username)
}

// similarToEmail compares pw with the whole address, the local part and each
// word of it and of the domain. Containment is checked for the local part
// only: domain words like "com" or "mail" are inside too many good passwords.
func similarToEmail(pw, email string) bool {
	if email == "" {
		return false
	}
	local, _, _ := strings.Cut(email, "@")
	if contains(pw, local) {
		return true
	}
	return similarToParts(pw, email)
}

// contains reports whether pw holds value or value holds pw, ignoring a
// value too short to mean anything.
func contains(pw, value string) bool {
	if pw == "" || utf8.RuneCountInString(value) < minContainedLength {
		return false
	}
	return strings.Contains(pw, value) || strings.Contains(value, pw)
}

// similarToParts applies Django's rule: value and each of its words (split on
// non-word characters) are compared with pw by SequenceMatcher ratio.
func similarToParts(pw, value string) bool {
	parts := strings.FieldsFunc(value, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_'
	})
	parts = append(parts, value)
	a := []rune(pw)
	for _, part := range parts {
		if ratio(a, []rune(part)) >= maxSimilarity {
			return true
		}
	}
	return false
}

// ratio is Python difflib.SequenceMatcher(None, a, b).ratio(): 2*M/T, where T
// is the total length and M the number of characters in matching blocks,
// found by taking the longest common run and recursing on either side of it
// (Ratcliff/Obershelp). Django's similarity rule is defined by this measure,
// so the same inputs are refused here as there. Inputs are at most a few
// hundred runes (MaxLength bytes against a user name or email address), so
// the quadratic longest-run search is cheap and difflib's "autojunk"
// heuristic, which only applies to sequences of 200 or more, is left out.
func ratio(a, b []rune) float64 {
	total := len(a) + len(b)
	if total == 0 {
		return 1 // difflib's answer for two empty sequences
	}
	return 2 * float64(matching(a, b)) / float64(total)
}

// matching counts the characters in the matching blocks of a and b.
func matching(a, b []rune) int {
	i, j, n := longestMatch(a, b)
	if n == 0 {
		return 0
	}
	return n + matching(a[:i], b[:j]) + matching(a[i+n:], b[j+n:])
}

// longestMatch finds the longest common run a[i:i+n] == b[j:j+n]. Like
// difflib it prefers the run that starts earliest in a, then earliest in b,
// which decides the recursion and so the ratio when there are ties.
func longestMatch(a, b []rune) (besti, bestj, bestn int) {
	// prev[j+1] is the length of the common run ending at a[i-1], b[j].
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] != b[j] {
				cur[j+1] = 0
				continue
			}
			cur[j+1] = prev[j] + 1
			if k := cur[j+1]; k > bestn {
				besti, bestj, bestn = i-k+1, j-k+1, k
			}
		}
		prev, cur = cur, prev
	}
	return besti, bestj, bestn
}
