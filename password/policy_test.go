package password

import (
	"math"
	"slices"
	"strings"
	"testing"
)

const (
	msgShort     = "This password is too short. It must contain at least 8 characters."
	msgLong      = "This password is too long. It must contain at most 128 bytes (accented letters and emoji take 2 to 4 each)."
	msgCommon    = "This password is too common."
	msgNumeric   = "This password is entirely numeric."
	msgUsername  = "This password is too similar to the user name."
	msgEmail     = "This password is too similar to the email address."
	emoji64Chars = "Correct horse 🐎 battery staple 🔋 — über straße naïve café ☕ ok!!"
)

func TestCheck(t *testing.T) {
	policy, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(emoji64Chars); n > MaxLength {
		t.Fatalf("emoji fixture is %d bytes, over MaxLength", n)
	}
	if n := len([]rune(emoji64Chars)); n != 64 {
		t.Fatalf("emoji fixture has %d characters, want 64", n)
	}
	tests := []struct {
		name, pw, username, email string
		want                      []string
	}{
		{"7 characters", "xq7#Lm2", "", "", []string{msgShort}},
		{"8 characters", "xq7#Lm2p", "", "", nil},
		{"7 characters of which 2 are emoji", "ab🐎cd🔋e", "", "", []string{msgShort}},
		{"common", "password1", "", "", []string{msgCommon}},
		{"common in capitals", "PASSWORD1", "", "", []string{msgCommon}},
		{"common with surrounding spaces", " Password1 ", "", "", []string{msgCommon}},
		{"numeric and common", "12345678901", "", "", []string{msgCommon, msgNumeric}},
		{"numeric only", "80934172655", "", "", []string{msgNumeric}},
		{"Arabic-Indic digits are numeric", "٨٠٩٣٤١٧٢", "", "", []string{msgNumeric}},
		{"every rule at once", "1234567", "", "", []string{msgShort, msgCommon, msgNumeric}},
		{"contains the user name", "alice99alice", "alice99", "", []string{msgUsername}},
		{"user name in other case", "xALICE99x", "Alice99", "", []string{msgUsername}},
		{"similar to the user name", "pass_word", "password!", "", []string{msgUsername}},
		{"user name contains the password", "bobbyjoe", "bobbyjoe1987", "", []string{msgUsername}},
		{"two-letter user name is not looked for", "alxq7#Lm2p", "al", "", nil},
		{"contains the email local part", "zorblat!2024x", "", "zorblat@example.org", []string{msgEmail}},
		{"similar to an email domain word", "examplex", "", "z@examples.org", []string{msgEmail}},
		{"domain words are not looked for inside", "welcome-to-2077!", "", "zed@mail.com", nil},
		{"unrelated to user name and email", "tangerine-Orbit-42", "alice99", "alice@example.org", nil},
		{"64 characters with emoji and spaces", emoji64Chars, "alice99", "alice@example.org", nil},
		{"128 bytes", strings.Repeat("aB3$", 32), "", "", nil},
		{"129 bytes", strings.Repeat("aB3$", 32) + "x", "alice99", "", []string{msgLong}},
		{"129 bytes of emoji", strings.Repeat("🐎", 32) + "x", "", "", []string{msgLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range policy.Check(tt.pw, tt.username, tt.email) {
				got = append(got, p.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check(%q, %q, %q)\n got %q\nwant %q", tt.pw, tt.username, tt.email, got, tt.want)
			}
		})
	}
}

func TestCheckCodes(t *testing.T) {
	policy, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, p := range policy.Check("alice", "alice", "alice@example.org") {
		codes = append(codes, p.Code)
	}
	want := []string{"too_short", "too_similar_username", "too_similar_email", "too_common"}
	if !slices.Equal(codes, want) {
		t.Errorf("codes = %q, want %q", codes, want)
	}
}

func TestCommonPasswordList(t *testing.T) {
	policy, err := NewPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(policy.common); n != 19727 {
		t.Errorf("common password list has %d entries, want 19727", n)
	}
}

// TestRatio compares with values printed by Python 3's
// difflib.SequenceMatcher(None, a, b).ratio().
func TestRatio(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"alice99alice", "alice99", 0.7368421052631579},
		{"password", "pass_word", 0.9411764705882353},
		{"correcthorse", "horsecorrect", 0.5833333333333334},
		{"abcd", "bcda", 0.75},
		{"zorblat2024", "zorblat@example.org", 0.4666666666666667},
		{"kitten", "sitting", 0.6153846153846154},
		{"", "", 1},
	}
	for _, tt := range tests {
		if got := ratio([]rune(tt.a), []rune(tt.b)); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("ratio(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
