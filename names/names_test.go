package names_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"github.com/slsrtc/slsrtc/names"
)

func TestNormalizeAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, in, key string
	}{
		{"ASCII", "alice", "alice"},
		{"upper case folds", "ALICE", "alice"},
		{"title case folds", "Alice", "alice"},
		{"ASCII punctuation and digits", "o'brien-2_x.y", "o'brien-2_x.y"},
		{"two words", "Alice Smith", "alice smith"},
		{"Latin with diaeresis", "Zoë", "zoë"},
		{"Latin with acute", "José", "josé"},
		{"decomposed acute composes (NFC)", "Jose\u0301", "josé"},
		{"Han", "山田", "山田"},
		{"Han and Hiragana (Japanese)", "山田はなこ", "山田はなこ"},
		{"Han, Katakana, Latin (Japanese)", "山田タロウ Taro", "山田タロウ taro"},
		{"Katakana with the prolonged sound mark (Common)", "ハーモニー", "ハーモニー"},
		{"half-width Katakana folds to full width", "ｱﾘｽ", "アリス"},
		{"Han and Hangul (Korean)", "金민수", "金민수"},
		{"Han and Bopomofo (Chinese)", "王ㄅㄆ", "王ㄅㄆ"},
		{"Greek", "Ελένη", "ελένη"},
		{"Cyrillic", "Иван", "иван"},
		{"Arabic", "علي", "علي"},
		{"Hebrew", "דנה", "דנה"},
		{"Hebrew with ASCII digits at the end", "דנה2", "דנה2"},
		{"Devanagari with its own digits", "नमस्ते१२", "नमस्ते१२"},
		{"non-ASCII word ending in ASCII punctuation, like alice!", "Zoë!", "zoë!"},
		{"non-ASCII word starting with a digit, like 1alice", "1Zoë", "1zoë"},
		{"full-width Latin folds", "Ａｌｉｃｅ", "alice"},
		{"full-width and ASCII digits are one system after folding", "alice１2", "alice12"},
		{"Arabic-Indic digits alone", "علي٣٤", "علي٣٤"},
		{"German sharp s stays (lower case, not case folding)", "Straße", "straße"},
		{"four stacked marks", "a\u0301\u0300\u0302\u0303", "á\u0300\u0302\u0303"},
		// The documented limit: a whole-script confusable is one script.
		{"all-Cyrillic look-alike of Latin 'ape' (not caught)", "аре", "аре"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := names.Normalize(tc.in)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tc.in, err)
			}
			if key != tc.key {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, key, tc.key)
			}
			again, err := names.Normalize(key)
			if err != nil || again != key {
				t.Errorf("Normalize(key %q) = %q, %v; want the key again", key, again, err)
			}
		})
	}
}

func TestNormalizeCollides(t *testing.T) {
	for _, group := range [][]string{
		{"Alice", "alice", "ALICE", "aLiCe", "Ａｌｉｃｅ", "ａｌｉｃｅ"},
		{"José", "Jose\u0301", "JOSÉ", "JOSE\u0301"},
		{"Ελένη", "ΕΛΈΝΗ"},
		{"アリス", "ｱﾘｽ"},
		{"Bob Smith", "bob smith", "BOB SMITH"},
	} {
		t.Run(group[0], func(t *testing.T) {
			want, err := names.Normalize(group[0])
			if err != nil {
				t.Fatalf("Normalize(%q): %v", group[0], err)
			}
			for _, n := range group[1:] {
				got, err := names.Normalize(n)
				if err != nil || got != want {
					t.Errorf("Normalize(%q) = %q, %v; want %q, as for %q", n, got, err, want, group[0])
				}
				if !names.Equal(n, group[0]) {
					t.Errorf("Equal(%q, %q) = false, want true", n, group[0])
				}
			}
		})
	}
}

func TestNormalizeDistinct(t *testing.T) {
	for _, pair := range [][2]string{
		{"alice", "alice2"},
		{"alice smith", "alicesmith"},
		{"Straße", "STRASSE"},
	} {
		if names.Equal(pair[0], pair[1]) {
			t.Errorf("Equal(%q, %q) = true, want false", pair[0], pair[1])
		}
	}
	if names.Equal("Аlice", "Аlice") {
		t.Errorf("Equal of an invalid name with itself = true, want false")
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"empty", "", names.ErrEmpty},
		{"only a space", " ", names.ErrSpaces},
		{"leading space", " alice", names.ErrSpaces},
		{"trailing space", "alice ", names.ErrSpaces},
		{"two spaces", "alice  smith", names.ErrSpaces},
		{"tab", "alice\tsmith", names.ErrCharacter},
		{"newline", "alice\n", names.ErrCharacter},
		{"NUL", "ali\x00ce", names.ErrCharacter},
		{"DEL", "alice\x7f", names.ErrCharacter},
		{"C1 control", "alice\u0085", names.ErrCharacter},
		{"invalid UTF-8", "alice\xff", names.ErrCharacter},
		{"no-break space", "alice\u00a0smith", names.ErrCharacter},
		{"ideographic space", "山田\u3000花子", names.ErrCharacter},
		{"line separator", "alice\u2028", names.ErrCharacter},
		{"paragraph separator", "alice\u2029", names.ErrCharacter},
		{"right-to-left override", "\u202ealice", names.ErrCharacter},
		{"left-to-right isolate", "alice\u2066", names.ErrCharacter},
		{"zero-width space", "al\u200bice", names.ErrCharacter},
		{"zero-width joiner", "al\u200dice", names.ErrCharacter},
		{"zero-width non-joiner", "al\u200cice", names.ErrCharacter},
		{"soft hyphen", "al\u00adice", names.ErrCharacter},
		{"byte order mark", "\ufeffalice", names.ErrCharacter},
		{"private use", "alice\ue000", names.ErrCharacter},
		{"Hangul filler (invisible letter)", "\u3164", names.ErrCharacter},
		{"Hangul choseong filler", "a\u115f", names.ErrCharacter},
		{"emoji", "alice🎸", names.ErrCharacter},
		{"non-ASCII symbol", "alice♥", names.ErrCharacter},
		{"mathematical bold letters (compatibility)", "𝐚𝐥𝐢𝐜𝐞", names.ErrCharacter},
		{"unassigned code point", "alice\U000E0080", names.ErrCharacter},
		{"noncharacter", "alice\uffff", names.ErrCharacter},
		{"Cyrillic А in a Latin name", "Аlice", names.ErrMixedScripts},
		{"Cyrillic а in a Latin name", "аlice", names.ErrMixedScripts},
		{"Greek omicron in a Latin name", "bοb", names.ErrMixedScripts},
		{"Latin and Cyrillic words", "Alice Иванова", names.ErrMixedScripts},
		{"Hangul with Hiragana", "민수はな", names.ErrMixedScripts},
		{"Bopomofo with Katakana", "ㄅタ", names.ErrMixedScripts},
		{"Arabic-Indic and extended Arabic-Indic digits (PRECIS context rule)", "علي٣۳", names.ErrCharacter},
		{"Devanagari and ASCII digits", "नमस्ते१2", names.ErrMixedDigits},
		{"Bengali four (looks like 8) after ASCII digits", "অমিত1৪", names.ErrMixedDigits},
		{"repeated combining mark", "a\u0301\u0301", names.ErrMarks},
		{"five stacked marks", "a\u0301\u0300\u0302\u0303\u0304", names.ErrMarks},
		{"Hebrew word ending in a Latin letter (Bidi Rule)", "דנהa", names.ErrDirection},
		{"Hebrew and Latin words", "דנה alice", names.ErrMixedScripts},
		{"Hebrew word starting with a digit (Bidi Rule)", "1דנה", names.ErrDirection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := names.Normalize(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Normalize(%q) = %q, %v; want an error wrapping %v", tc.in, key, err, tc.want)
			}
			if key != "" {
				t.Errorf("Normalize(%q) returned key %q with its error", tc.in, key)
			}
		})
	}
}

// TestErrorsQuoteCodePointsNotNames holds the promise that an error's text
// can go back to the user: it names the offending code point, and never
// echoes the name (which may hold the very bytes a log or terminal should
// not receive).
func TestErrorsQuoteCodePointsNotNames(t *testing.T) {
	_, err := names.Normalize("alice\u202eevil")
	if err == nil {
		t.Fatal("Normalize accepted a bidi override")
	}
	if got, want := err.Error(), "U+202E"; !strings.Contains(got, want) {
		t.Errorf("error %q does not name the code point %s", got, want)
	}
	if strings.Contains(err.Error(), "alice") || strings.ContainsRune(err.Error(), '\u202e') {
		t.Errorf("error %q echoes the name", err)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"Alice", "alice smith", "Zoë", "山田", "Ελένη", "José", "Ａｌｉｃｅ", "ｱﾘｽ", "Аlice", "аре",
		"a\u0301\u0301", "\u202ealice", "דנה2", "علي٣۳", "", " ", "alice  smith", "İstanbul", "ǅemal",
		"ﬁx", "\u0345", "ΐ", "ᾳ", "ß", "ﾊﾟ", "ᄀ\u1160", "\u0f73",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		key, err := names.Normalize(name)
		// A one-word name that RFC 8265's profile accepts has the profile's
		// key, or is refused by one of Normalize's own rules. (The profile
		// accepts "", which Normalize refuses.)
		if want, perr := precis.UsernameCaseMapped.String(name); perr == nil && name != "" && !strings.Contains(name, " ") {
			if err == nil && key != want {
				t.Errorf("Normalize(%q) = %q, precis.UsernameCaseMapped gives %q", name, key, want)
			}
			if errors.Is(err, names.ErrDirection) || errors.Is(err, names.ErrSpaces) || errors.Is(err, names.ErrEmpty) {
				t.Errorf("Normalize(%q): %v, but precis.UsernameCaseMapped accepts it", name, err)
			}
		}
		if err != nil {
			if key != "" {
				t.Errorf("Normalize(%q) = %q with error %v", name, key, err)
			}
			if !isKnown(err) {
				t.Errorf("Normalize(%q): error %v wraps none of the package's errors", name, err)
			}
			return
		}
		if key == "" || !utf8.ValidString(key) {
			t.Fatalf("Normalize(%q) = %q, want a non-empty UTF-8 key", name, key)
		}
		again, err := names.Normalize(key)
		if err != nil || again != key {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v: the key is not stable", name, key, key, again, err)
		}
	})
}

func isKnown(err error) bool {
	for _, known := range []error{
		names.ErrEmpty, names.ErrSpaces, names.ErrCharacter, names.ErrDirection,
		names.ErrMixedScripts, names.ErrMixedDigits, names.ErrMarks,
	} {
		if errors.Is(err, known) {
			return true
		}
	}
	return false
}

func ExampleNormalize() {
	for _, name := range []string{"Alice", "ALICE", "Ａｌｉｃｅ", "Zoë", "Аlice", "alice\u202e"} {
		key, err := names.Normalize(name)
		if err != nil {
			fmt.Printf("%q refused: %v\n", name, err)
			continue
		}
		fmt.Printf("%q key %q\n", name, key)
	}
	// Output:
	// "Alice" key "alice"
	// "ALICE" key "alice"
	// "Ａｌｉｃｅ" key "alice"
	// "Zoë" key "zoë"
	// "Аlice" refused: name mixes letters of different scripts
	// "alice\u202e" refused: name contains a character that is not allowed in names: U+202E
}
