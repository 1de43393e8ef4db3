// Package names decides when two user names are the same name, and refuses
// names that are invalid or built to be mistaken for another.
//
// Normalize returns a name's comparison key: two names are the same name when
// their keys are equal, so "Alice", "alice", "ALICE" and the full-width
// "Ａｌｉｃｅ" are one name. The key is for comparing and storing (a room's
// name marker); the name shown to others stays the one the user typed.
//
// # What a name may be
//
// A name is one or more words separated by single ASCII spaces (RFC 8265,
// section 3.3: a username is userparts separated by spaces). Each word must
// pass the PRECIS UsernameCaseMapped profile (RFC 8265, section 3.4, in
// golang.org/x/text/secure/precis; the Bidi Rule applied, as RFC 5893 states
// it, to words with right-to-left characters, see profile): letters and digits of any script, the
// printable ASCII punctuation and symbols, combining marks; not other
// symbols or punctuation (so no emoji), no spaces other than the separator,
// no compatibility characters (such as mathematical bold letters), no
// default-ignorable or unassigned code points, and right-to-left words must
// satisfy the Bidi Rule (RFC 5893). The profile maps full-width and half-width
// forms to their usual forms, upper case to lower case, and the result to
// NFC; the key is the mapped words joined by single spaces.
//
// On top of PRECIS, Normalize refuses:
//
//   - control characters (Cc), format characters (Cf: zero-width joiners and
//     non-joiners, bidi overrides and isolates, the byte order mark), line and
//     paragraph separators, private-use and surrogate code points, and every
//     space other than U+0020, each with its code point in the error
//     (ErrCharacter); PRECIS would refuse most of them too, but not in every
//     context (U+200C and U+200D are allowed after a virama), and not with a
//     reason a user can act on;
//   - leading, trailing and repeated spaces (ErrSpaces);
//   - mixed scripts (ErrMixedScripts), by the "highly restrictive" level of
//     Unicode Technical Standard #39 (Restriction-Level Detection): every letter of the name is
//     of one script, ignoring the Common and Inherited scripts (digits,
//     ASCII punctuation, combining marks), or the name mixes only Latin, Han,
//     Hiragana and Katakana (Japanese), Latin, Han and Bopomofo (Chinese), or
//     Latin, Han and Hangul (Korean). A Latin "Alice" with a Cyrillic "А" is
//     refused; so is "Alice Иванова";
//   - digits of more than one decimal system, such as a Bengali "৪" (four,
//     drawn like an 8) after ASCII digits (ErrMixedDigits; UTS #39,
//     Mixed-Number Detection);
//   - the same non-spacing mark twice in a row, which renders like one, and
//     more than four non-spacing marks in a row (ErrMarks; UTS #39,
//     Optional Detection).
//
// # What it does not catch
//
// Whole-script confusables are not caught: a name written entirely in
// Cyrillic letters that look like Latin ones (Cyrillic "аре" looks like Latin
// "ape") is one script and passes, and so do look-alikes inside one script
// ("rn" and "m", "l" and "I", "0" and "O"). Catching them needs Unicode's
// confusables data (confusables.txt and the UTS #39 skeleton), which neither
// the standard library nor golang.org/x/text carries. Script membership uses
// Go's unicode.Scripts, the Script property: Go has no Script_Extensions, so
// a character that a few scripts share (the Japanese prolonged sound mark "ー",
// Hiragana and Katakana) counts as Common, and goes with any script. Normalize does not
// bound the length: callers do (handlers.MaxUserNameRunes).
//
// The key is stable: Normalize(key) returns key, so a key can be stored and
// compared with the key of a name that arrives later.
package names

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/bidirule"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// Errors Normalize returns, wrapped with detail; test them with errors.Is.
// Their text is safe to show to the user who typed the name: it quotes code
// points, never the name.
var (
	// ErrEmpty: the name is empty.
	ErrEmpty = errors.New("name is empty")
	// ErrSpaces: the name starts or ends with a space, or has two in a row.
	ErrSpaces = errors.New("name must not start or end with a space or have two in a row")
	// ErrCharacter: the name is not UTF-8, or has a character a name cannot
	// have (a control, format or invisible character, a space other than
	// U+0020, or a character the PRECIS profile refuses, such as an emoji).
	ErrCharacter = errors.New("name contains a character that is not allowed in names")
	// ErrDirection: a right-to-left word breaks the Bidi Rule (RFC 5893), so
	// it could display in a misleading order.
	ErrDirection = errors.New("name has a right-to-left word that could display in a misleading order")
	// ErrMixedScripts: the name mixes letters of scripts that UTS #39's
	// highly restrictive level does not allow together.
	ErrMixedScripts = errors.New("name mixes letters of different scripts")
	// ErrMixedDigits: the name has digits of more than one decimal system.
	ErrMixedDigits = errors.New("name mixes digits of different number systems")
	// ErrMarks: the name repeats a non-spacing mark or stacks more than
	// MaxMarks of them.
	ErrMarks = errors.New("name stacks too many combining marks or repeats one")
)

// MaxMarks is the most non-spacing marks (after canonical decomposition) a
// name may have in a row (UTS #39, Optional Detection).
const MaxMarks = 4

// profile is RFC 8265's UsernameCaseMapped (width folding, lower case, NFC,
// the IdentifierClass) without its Bidi Rule, which Normalize applies itself:
// precis.UsernameCaseMapped applies the Bidi Rule to every word that is not
// pure ASCII, RTL or not, so it accepts "alice!" and "1alice" but refuses
// "zoë!" and "1zoë" (an LTR word must start with a letter and end with a
// letter or digit), while RFC 5893 states the rule for labels that contain
// right-to-left characters. The keys are the same: the Bidi Rule maps
// nothing, it only refuses.
var profile = precis.NewIdentifier(precis.FoldWidth, precis.LowerCase(), precis.Norm(norm.NFC))

// Normalize returns the key under which name is compared with other names.
// Names with equal keys are the same name. It returns an error wrapping
// ErrEmpty, ErrSpaces, ErrCharacter, ErrDirection, ErrMixedScripts,
// ErrMixedDigits or ErrMarks when name is not a valid user name (see the
// package documentation).
func Normalize(name string) (key string, err error) {
	if name == "" {
		return "", ErrEmpty
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrCharacter)
	}
	for _, r := range name {
		if forbidden(r) {
			return "", fmt.Errorf("%w: %U", ErrCharacter, r)
		}
	}
	words := strings.Split(name, " ")
	for i, w := range words {
		if w == "" {
			return "", ErrSpaces
		}
		k, err := profile.String(w)
		if err != nil {
			if r, ok := disallowed(w); ok {
				return "", fmt.Errorf("%w: %U", ErrCharacter, r)
			}
			return "", ErrCharacter
		}
		if rtl(k) && !bidirule.ValidString(k) {
			return "", ErrDirection
		}
		words[i] = k
	}
	key = strings.Join(words, " ")
	if err := checkScripts(key); err != nil {
		return "", err
	}
	if err := checkDigits(key); err != nil {
		return "", err
	}
	if err := checkMarks(key); err != nil {
		return "", err
	}
	return key, nil
}

// Equal reports whether a and b are the same valid name: both normalize,
// to the same key.
func Equal(a, b string) bool {
	ka, err := Normalize(a)
	if err != nil {
		return false
	}
	kb, err := Normalize(b)
	return err == nil && ka == kb
}

// disallowed returns the first rune of word that the profile refuses
// wherever it stands: one whose width-folded, lower-cased NFC form is not in
// the IdentifierClass. It only names the culprit for the error; a word can
// also fail on a contextual rule (RFC 5892, appendix A), with no rune
// refused on its own.
func disallowed(word string) (rune, bool) {
	allowed := profile.Allowed()
	for _, r := range word {
		for _, m := range norm.NFC.String(strings.ToLower(width.Fold.String(string(r)))) {
			if !allowed.Contains(m) {
				return r, true
			}
		}
	}
	return 0, false
}

// rtl reports whether s has a right-to-left character (Bidi class R, AL or
// AN): an "RTL label" in RFC 5893's terms, which the Bidi Rule applies to.
func rtl(s string) bool {
	for _, r := range s {
		p, _ := bidi.LookupRune(r)
		switch p.Class() {
		case bidi.R, bidi.AL, bidi.AN:
			return true
		}
	}
	return false
}

// forbidden reports whether r is never part of a name, whatever surrounds it:
// controls, format characters, separators other than U+0020, private-use and
// surrogate code points.
func forbidden(r rune) bool {
	if r == ' ' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zs, unicode.Zl, unicode.Zp)
}

// ignoredScripts are the scripts that do not count in the mixed-script rule:
// Common (digits, ASCII punctuation, the long vowel mark shared by Hiragana
// and Katakana) and Inherited (combining marks, which take the script of
// their base).
var ignoredScripts = map[string]bool{"Common": true, "Inherited": true}

// cjk are the combinations of scripts UTS #39's highly restrictive level
// allows in one identifier, beyond a single script.
var cjk = []map[string]bool{
	{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true},
	{"Latin": true, "Han": true, "Bopomofo": true},
	{"Latin": true, "Han": true, "Hangul": true},
}

// checkScripts returns ErrMixedScripts unless s is highly restrictive: one
// script, ignoring Common and Inherited, or one of the cjk combinations.
func checkScripts(s string) error {
	seen := map[string]bool{}
	last := scripts[0]
	for _, r := range s {
		if !unicode.Is(last.table, r) {
			last = scriptOf(r)
		}
		if !ignoredScripts[last.name] {
			seen[last.name] = true
		}
	}
	if len(seen) <= 1 {
		return nil
	}
	for _, allowed := range cjk {
		if subset(seen, allowed) {
			return nil
		}
	}
	return ErrMixedScripts
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

type script struct {
	name  string
	table *unicode.RangeTable
}

// scripts are Go's unicode.Scripts, the frequent ones first, so that most
// names never scan the whole list.
var scripts = func() []script {
	frequent := []string{
		"Common", "Latin", "Inherited", "Cyrillic", "Greek", "Han", "Hiragana", "Katakana", "Hangul",
		"Arabic", "Hebrew", "Devanagari", "Thai",
	}
	var list []script
	for _, name := range frequent {
		list = append(list, script{name, unicode.Scripts[name]})
	}
	var rest []string
	for name := range unicode.Scripts {
		if !slices.Contains(frequent, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	for _, name := range rest {
		list = append(list, script{name, unicode.Scripts[name]})
	}
	return list
}()

// unknown is the script of a code point in none of unicode.Scripts.
var unknown = script{"Unknown", &unicode.RangeTable{}}

// scriptOf returns r's script (its Script property).
func scriptOf(r rune) script {
	for _, sc := range scripts {
		if unicode.Is(sc.table, r) {
			return sc
		}
	}
	return unknown
}

// checkDigits returns ErrMixedDigits when s has decimal digits (Nd) of more
// than one system, told apart by the code point of their zero.
func checkDigits(s string) error {
	zero := rune(-1)
	for _, r := range s {
		if !unicode.IsDigit(r) {
			continue
		}
		z := digitZero(r)
		if zero >= 0 && z != zero {
			return ErrMixedDigits
		}
		zero = z
	}
	return nil
}

// digitZero returns the zero of the decimal system of the digit r. Unicode
// encodes decimal digits (Nd) only in whole runs of ten, 0 to 9 in order, so
// the zero is found from the start of r's run of consecutive digits (runs of
// several systems, like the mathematical digits, are laid end to end).
func digitZero(r rune) rune {
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return start + (r-start)/10*10
}

// checkMarks returns ErrMarks when the canonical decomposition of s has the
// same non-spacing mark twice in a row, or more than MaxMarks in a row.
func checkMarks(s string) error {
	run, prev := 0, rune(-1)
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			run, prev = 0, -1
			continue
		}
		run++
		if r == prev || run > MaxMarks {
			return ErrMarks
		}
		prev = r
	}
	return nil
}
