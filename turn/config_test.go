package turn_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/turn"
)

// secretString is the Secrets Manager SecretString of the secrets.
func secretString(t *testing.T, current, previous string) string {
	t.Helper()
	m := map[string]string{"current": current}
	if previous != "" {
		m["previous"] = previous
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// punctuation is a secret of every ASCII punctuation character and inner
// spaces, which a TURN server's configuration file holds (see
// test/turnserver's TestSecretCharacters).
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ and more"

func TestParseConfig(t *testing.T) {
	secrets := secretString(t, string(current), string(previous))
	for _, tc := range []struct {
		name string
		in   turn.Settings
		want turn.Config
	}{
		{"nothing: no servers", turn.Settings{}, turn.Config{TTL: turn.DefaultTTL}},
		{"STUN only", turn.Settings{STUNURLs: "stun:stun.example.com:3478"},
			turn.Config{STUN: mustURLs(t, "stun:stun.example.com:3478"), TTL: turn.DefaultTTL}},
		{"STUN only, a TTL set anyway", turn.Settings{STUNURLs: "stun:stun.example.com", TTL: "600"},
			turn.Config{STUN: mustURLs(t, "stun:stun.example.com"), TTL: 10 * time.Minute}},
		{"white space only: nothing", turn.Settings{STUNURLs: " ", TURNURLs: "\t"}, turn.Config{TTL: turn.DefaultTTL}},
		{"STUN and TURN", turn.Settings{
			STUNURLs: "stun:turn.example.com:3478, stuns:turn.example.com:5349",
			TURNURLs: " turn:turn.example.com:3478?transport=udp ,turn:turn.example.com:3478?transport=tcp,TURNS:turn.example.com:443?transport=tcp",
			TTL:      "900",
			Secrets:  secrets,
		}, turn.Config{
			STUN:    mustURLs(t, "stun:turn.example.com:3478", "stuns:turn.example.com:5349"),
			TURN:    mustURLs(t, "turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp", "turns:turn.example.com:443?transport=tcp"),
			TTL:     15 * time.Minute,
			Secrets: [][]byte{current, previous},
		}},
		{"TURN with the default TTL and one secret", turn.Settings{TURNURLs: "turn:192.0.2.1", Secrets: secretString(t, string(current), "")},
			turn.Config{TURN: mustURLs(t, "turn:192.0.2.1"), TTL: turn.DefaultTTL, Secrets: [][]byte{current}}},
		{"the shortest TTL", turn.Settings{TURNURLs: "turn:x.example", TTL: "60", Secrets: secrets},
			turn.Config{TURN: mustURLs(t, "turn:x.example"), TTL: time.Minute, Secrets: [][]byte{current, previous}}},
		{"the longest TTL", turn.Settings{TURNURLs: "turn:x.example", TTL: "86400", Secrets: secrets},
			turn.Config{TURN: mustURLs(t, "turn:x.example"), TTL: 24 * time.Hour, Secrets: [][]byte{current, previous}}},
		{"a secret of punctuation and inner spaces", turn.Settings{TURNURLs: "turn:x.example", Secrets: secretString(t, punctuation, "")},
			turn.Config{TURN: mustURLs(t, "turn:x.example"), TTL: turn.DefaultTTL, Secrets: [][]byte{[]byte(punctuation)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := turn.ParseConfig(tc.in)
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseConfig =\n%+v, want\n%+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestParseConfigRefuses(t *testing.T) {
	secrets := secretString(t, string(current), string(previous))
	short := string(current[:auth.MinSecretLength-1])
	for _, tc := range []struct {
		name  string
		in    turn.Settings
		wants []string // what the error must say, in order
	}{
		{"a bad STUN URL", turn.Settings{STUNURLs: "stun:a.example,stun:b_c.example"}, []string{"turn: STUN_URLS: ", `"stun:b_c.example"`}},
		{"a TURN URL among the STUN URLs", turn.Settings{STUNURLs: "turn:a.example"}, []string{"STUN_URLS", "belongs in TURN_URLS"}},
		{"a STUN URL among the TURN URLs", turn.Settings{TURNURLs: "stun:a.example", Secrets: secrets}, []string{"TURN_URLS", "belongs in STUN_URLS"}},
		{"an empty item", turn.Settings{STUNURLs: "stun:a.example,,stun:b.example"}, []string{"STUN_URLS", "empty item"}},
		{"a trailing comma", turn.Settings{TURNURLs: "turn:a.example,", Secrets: secrets}, []string{"TURN_URLS", "empty item"}},
		{"the same URL twice", turn.Settings{TURNURLs: "turn:a.example:3478, TURN:A.example:3478", Secrets: secrets}, []string{"TURN_URLS", "twice"}},
		{"TURN without secrets", turn.Settings{TURNURLs: "turn:a.example"}, []string{"TURN_SECRETS", "required with TURN_URLS"}},
		{"secrets without TURN", turn.Settings{STUNURLs: "stun:a.example", Secrets: secrets}, []string{"TURN_SECRETS", "TURN_URLS is empty"}},
		{"TTL not a number", turn.Settings{TURNURLs: "turn:a.example", TTL: "1h", Secrets: secrets}, []string{"TURN_TTL", `"1h"`, "60 to 86400"}},
		{"TTL too short", turn.Settings{TURNURLs: "turn:a.example", TTL: "59", Secrets: secrets}, []string{"TURN_TTL"}},
		{"TTL too long", turn.Settings{TURNURLs: "turn:a.example", TTL: "86401", Secrets: secrets}, []string{"TURN_TTL"}},
		{"TTL negative", turn.Settings{TURNURLs: "turn:a.example", TTL: "-3600", Secrets: secrets}, []string{"TURN_TTL"}},
		{"TTL wrong without TURN", turn.Settings{TTL: "0"}, []string{"TURN_TTL"}},
		{"secrets not JSON", turn.Settings{TURNURLs: "turn:a.example", Secrets: string(current)}, []string{"TURN_SECRETS", "not a JSON object"}},
		{"a short secret", turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, short, "")}, []string{"TURN_SECRETS", "shorter"}},
		{"a secret with a line break", turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, string(current), string(previous)+"\nx")},
			[]string{"TURN_SECRETS", "previous secret", "line break"}},
		{"a secret with a NUL", turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, string(current)+"\x00", "")}, []string{"TURN_SECRETS", "current secret", "NUL"}},
		{"a secret with a space at the end", turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, string(current)+" ", "")}, []string{"TURN_SECRETS", "white space"}},
		{"a secret with a tab at the start", turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, "\t"+string(current), "")}, []string{"TURN_SECRETS", "white space"}},
		{"every problem at once", turn.Settings{STUNURLs: "x", TURNURLs: "y", TTL: "z"}, []string{"STUN_URLS", "TURN_URLS", "TURN_TTL", "TURN_SECRETS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := turn.ParseConfig(tc.in)
			if err == nil {
				t.Fatalf("ParseConfig = %+v, want an error", got)
			}
			msg := err.Error()
			rest := msg
			for _, want := range tc.wants {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("ParseConfig: %q, want it to say %q (in the order %q)", msg, want, tc.wants)
				}
				rest = rest[i+len(want):]
			}
			for _, secret := range [][]byte{current, previous, []byte(short)} {
				if strings.Contains(msg, string(secret[len(secret)-12:])) {
					t.Errorf("error %q quotes a secret", msg)
				}
			}
		})
	}
}

func TestParseConfigSecretCharacters(t *testing.T) {
	_, err := turn.ParseConfig(turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, string(current)+"\r", "")})
	if !errors.Is(err, turn.ErrSecretCharacters) {
		t.Errorf("ParseConfig: %v, want ErrSecretCharacters", err)
	}
	_, err = turn.ParseConfig(turn.Settings{TURNURLs: "turn:a.example", Secrets: secretString(t, string(current[:10]), "")})
	if !errors.Is(err, auth.ErrShortSecret) {
		t.Errorf("ParseConfig: %v, want auth.ErrShortSecret", err)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"STUN_URLS":    "stun:turn.example.com",
		"TURN_URLS":    "turn:turn.example.com?transport=udp",
		"TURN_TTL":     "120",
		"TURN_SECRETS": secretString(t, string(current), ""),
	}
	got, err := turn.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := turn.Config{
		STUN: mustURLs(t, "stun:turn.example.com"), TURN: mustURLs(t, "turn:turn.example.com?transport=udp"),
		TTL: 2 * time.Minute, Secrets: [][]byte{current},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadConfig = %+v, want %+v", got, want)
	}
	if _, err := turn.LoadConfig(func(string) string { return "" }); err != nil {
		t.Errorf("LoadConfig of an empty environment: %v", err)
	}
}
