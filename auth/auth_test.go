package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
)

// The fixed clock and secrets of the tests. current and previous are the
// Verifier's two secrets (a rotation in progress); unknown is neither.
var (
	now      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	current  = []byte("current-secret-0123456789abcdefgh")
	previous = []byte("previous-secret-0123456789abcdefg")
	unknown  = []byte("unknown-secret-0123456789abcdefgh")
)

const (
	audience = "slsrtc"
	room1    = "a118fd6a-2e9a-4cc1-bc01-ec0833251e78"
	room2    = "00000000-0000-4000-8000-000000000002"
)

// newVerifier returns the tests' Verifier: audience slsrtc, secrets current
// and previous, the clock stopped at now.
func newVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(audience, current, previous)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	v.Now = func() time.Time { return now }
	return v
}

var b64 = base64.RawURLEncoding

// sign returns the compact JWS of header and payload (JSON text, taken as
// is) signed with HMAC-SHA256 under secret, built without the library under
// test.
func sign(header, payload string, secret []byte) string {
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

// unsigned returns the compact JWS of header and payload with an empty
// signature, as an "alg":"none" token has.
func unsigned(header, payload string) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload)) + "."
}

const hs256 = `{"alg":"HS256","typ":"JWT"}`

// claims returns a valid payload for the tests' Verifier (aud slsrtc, iat
// now, exp an hour later) with extra members appended (`"k":v` pairs,
// comma-separated). Keys given twice: the last wins, as in encoding/json.
func claims(extra string) string {
	base := fmt.Sprintf(`"aud":%q,"iat":%d,"exp":%d`, audience, now.Unix(), now.Add(time.Hour).Unix())
	if extra != "" {
		base += "," + extra
	}
	return "{" + base + "}"
}

// at returns a NumericDate claim value d from now.
func at(d time.Duration) int64 { return now.Add(d).Unix() }

func TestVerifyRefuses(t *testing.T) {
	valid := sign(hs256, claims(""), current)
	parts := strings.Split(valid, ".")
	sig, _ := b64.DecodeString(parts[2])
	tampered := parts[0] + "." + b64.EncodeToString([]byte(claims(`"create":true`))) + "." + parts[2]

	for _, tc := range []struct {
		name  string
		token string
		want  *auth.Refusal
	}{
		{"no token", "", auth.ErrMissing},
		{"garbage", "not a token", auth.ErrMalformed},
		{"two segments", parts[0] + "." + parts[1], auth.ErrMalformed},
		{"four segments", valid + ".x", auth.ErrMalformed},
		{"header not base64url", "!!!." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"header not JSON", b64.EncodeToString([]byte("alg")) + "." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"payload a JSON array", sign(hs256, `["aud","slsrtc"]`, current), auth.ErrMalformed},
		{"payload not JSON", sign(hs256, `{"aud":`, current), auth.ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], auth.ErrMalformed},
		{"longer than MaxTokenLength", sign(hs256, claims(fmt.Sprintf(`"sub":%q`, strings.Repeat("x", auth.MaxTokenLength))), current), auth.ErrMalformed},
		{"crit header", sign(`{"alg":"HS256","crit":["b64"],"b64":false}`, claims(""), current), auth.ErrMalformed},

		{"alg none, no signature", unsigned(`{"alg":"none"}`, claims("")), auth.ErrAlgorithm},
		{"alg none, signed", sign(`{"alg":"none"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg None", sign(`{"alg":"None"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg RS256 with an HMAC signature (key confusion)", sign(`{"alg":"RS256"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg HS512", sign(`{"alg":"HS512"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg unknown", sign(`{"alg":"XS256"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg missing", sign(`{"typ":"JWT"}`, claims(""), current), auth.ErrAlgorithm},
		{"alg not a string", sign(`{"alg":256}`, claims(""), current), auth.ErrAlgorithm},

		{"signed with an unknown secret", sign(hs256, claims(""), unknown), auth.ErrSignature},
		{"payload changed after signing", tampered, auth.ErrSignature},
		{"signature removed", parts[0] + "." + parts[1] + ".", auth.ErrSignature},
		{"signature truncated", parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig[:30]), auth.ErrSignature},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(sign(hs256, claims(`"sub":"x"`), current), ".")[2], auth.ErrSignature},
		{"signature with non-zero trailing bits (not canonical base64url)", parts[0] + "." + parts[1] + "." + parts[2][:42] + string(parts[2][42]+1), auth.ErrMalformed},

		{"expired", sign(hs256, claims(fmt.Sprintf(`"exp":%d`, at(-time.Hour))), current), auth.ErrExpired},
		{"expired beyond the leeway", sign(hs256, claims(fmt.Sprintf(`"exp":%d`, at(-auth.DefaultLeeway-time.Second))), current), auth.ErrExpired},
		{"expired long ago (negative)", sign(hs256, claims(`"exp":-1`), current), auth.ErrExpired},
		{"not valid yet (nbf)", sign(hs256, claims(fmt.Sprintf(`"nbf":%d`, at(time.Hour))), current), auth.ErrNotYetValid},
		{"nbf beyond the leeway", sign(hs256, claims(fmt.Sprintf(`"nbf":%d`, at(auth.DefaultLeeway+time.Second))), current), auth.ErrNotYetValid},
		{"issued in the future (iat)", sign(hs256, claims(fmt.Sprintf(`"iat":%d`, at(time.Hour))), current), auth.ErrNotYetValid},

		{"wrong audience", sign(hs256, claims(`"aud":"other"`), current), auth.ErrAudience},
		{"audience list without ours", sign(hs256, claims(`"aud":["other","slsrtc2"]`), current), auth.ErrAudience},
		{"audience differs in case", sign(hs256, claims(`"aud":"SLSRTC"`), current), auth.ErrAudience},
		{"no audience", sign(hs256, fmt.Sprintf(`{"exp":%d}`, at(time.Hour)), current), auth.ErrAudience},
		{"empty audience", sign(hs256, claims(`"aud":""`), current), auth.ErrAudience},
		{"empty audience list", sign(hs256, claims(`"aud":[]`), current), auth.ErrAudience},
		{"audience a number", sign(hs256, claims(`"aud":7`), current), auth.ErrAudience},

		{"no exp", sign(hs256, fmt.Sprintf(`{"aud":"slsrtc","iat":%d}`, now.Unix()), current), auth.ErrClaims},
		{"exp zero (absent)", sign(hs256, claims(`"exp":0`), current), auth.ErrClaims},
		{"exp a string", sign(hs256, claims(`"exp":"tomorrow"`), current), auth.ErrClaims},
		{"exp null", sign(hs256, claims(`"exp":null`), current), auth.ErrClaims},
		{"nbf a string", sign(hs256, claims(`"nbf":"now"`), current), auth.ErrClaims},
		{"iat a boolean", sign(hs256, claims(`"iat":true`), current), auth.ErrClaims},
		{"audience list with a number", sign(hs256, claims(`"aud":["slsrtc",1]`), current), auth.ErrClaims},
		{"room a number", sign(hs256, claims(`"room":7`), current), auth.ErrClaims},
		{"room an object", sign(hs256, claims(`"room":{"id":"x"}`), current), auth.ErrClaims},
		{"room list with a number", sign(hs256, claims(`"room":["`+room1+`",7]`), current), auth.ErrClaims},
		{"room empty string", sign(hs256, claims(`"room":""`), current), auth.ErrClaims},
		{"room empty list", sign(hs256, claims(`"room":[]`), current), auth.ErrClaims},
		{"room list with an empty string", sign(hs256, claims(`"room":["`+room1+`",""]`), current), auth.ErrClaims},
		{"room null", sign(hs256, claims(`"room":null`), current), auth.ErrClaims},
		{"create a string", sign(hs256, claims(`"create":"true"`), current), auth.ErrClaims},
		{"create a number", sign(hs256, claims(`"create":1`), current), auth.ErrClaims},
		{"create null", sign(hs256, claims(`"create":null`), current), auth.ErrClaims},
		{"name a number", sign(hs256, claims(`"name":7`), current), auth.ErrClaims},
		{"name empty", sign(hs256, claims(`"name":""`), current), auth.ErrClaims},
		{"name a mixed-script look-alike", sign(hs256, claims(`"name":"Аlice"`), current), auth.ErrClaims},
		{"sub a number", sign(hs256, claims(`"sub":7`), current), auth.ErrClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newVerifier(t).Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v (grant %+v), want an error wrapping %v", err, g, tc.want)
			}
			if !reflect.DeepEqual(g, auth.Grant{}) {
				t.Errorf("Verify returned grant %+v with its error", g)
			}
			var r *auth.Refusal
			if !errors.As(err, &r) || r != tc.want {
				t.Errorf("errors.As(%v, *Refusal) = %v, want %v", err, r, tc.want)
			}
			checkErrorText(t, err, tc.token)
		})
	}
}

// errorText is the shape of every Verify error: a Refusal's sentence, and
// detail made of fixed words, claim names and times, never token text.
var errorText = regexp.MustCompile(`^[a-zA-Z0-9 -]+(: (longer than \d+ bytes|crit header|no exp|no aud|(exp|nbf|iat) [0-9T:Z+-]+|(exp|nbf|iat|aud) has the wrong type|sub is not a string|name is not a non-empty string|name is not a valid user name|room is not a room ID or a non-empty list of room IDs|create is not a boolean))?$`)

// checkErrorText fails unless err has the shape of errorText and quotes no
// segment of token.
func checkErrorText(t testing.TB, err error, token string) {
	t.Helper()
	msg := err.Error()
	if !errorText.MatchString(msg) {
		t.Errorf("error %q is not a Refusal sentence with fixed detail", msg)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 8 && strings.Contains(msg, seg) {
			t.Errorf("error %q quotes the token", msg)
		}
	}
}

func TestVerifyAccepts(t *testing.T) {
	exp := now.Add(time.Hour)
	for _, tc := range []struct {
		name  string
		token string
		want  auth.Grant
	}{
		{"minimal: any name, any room, no create", sign(hs256, claims(""), current), auth.Grant{ExpiresAt: exp}},
		{"signed with the previous secret (rotation)", sign(hs256, claims(""), previous), auth.Grant{ExpiresAt: exp}},
		{"everything", sign(hs256, claims(`"sub":"user-1","name":"Alice","room":["`+room1+`","`+room2+`"],"create":true`), current),
			auth.Grant{Subject: "user-1", Name: "Alice", Rooms: []string{room1, room2}, Create: true, ExpiresAt: exp}},
		{"one room as a string", sign(hs256, claims(`"room":"`+room1+`"`), current), auth.Grant{Rooms: []string{room1}, ExpiresAt: exp}},
		{"create false", sign(hs256, claims(`"create":false`), current), auth.Grant{ExpiresAt: exp}},
		{"audience list with ours", sign(hs256, claims(`"aud":["other","slsrtc"]`), current), auth.Grant{ExpiresAt: exp}},
		{"no iat", sign(hs256, fmt.Sprintf(`{"aud":"slsrtc","exp":%d}`, exp.Unix()), current), auth.Grant{ExpiresAt: exp}},
		{"nbf in the past", sign(hs256, claims(fmt.Sprintf(`"nbf":%d`, at(-time.Minute))), current), auth.Grant{ExpiresAt: exp}},
		{"expired within the leeway", sign(hs256, claims(fmt.Sprintf(`"exp":%d`, at(-auth.DefaultLeeway+time.Second))), current),
			auth.Grant{ExpiresAt: now.Add(-auth.DefaultLeeway + time.Second)}},
		{"nbf within the leeway", sign(hs256, claims(fmt.Sprintf(`"nbf":%d`, at(auth.DefaultLeeway-time.Second))), current), auth.Grant{ExpiresAt: exp}},
		{"iat within the leeway", sign(hs256, claims(fmt.Sprintf(`"iat":%d`, at(auth.DefaultLeeway-time.Second))), current), auth.Grant{ExpiresAt: exp}},
		{"fractional exp", sign(hs256, claims(fmt.Sprintf(`"exp":%d.5`, exp.Unix())), current), auth.Grant{ExpiresAt: exp}},
		{"other claims ignored", sign(hs256, claims(`"iss":"minter","jti":"1","x":{"y":[1]}`), current), auth.Grant{ExpiresAt: exp}},
		{"header without typ, with kid", sign(`{"alg":"HS256","kid":"2026-03"}`, claims(""), current), auth.Grant{ExpiresAt: exp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newVerifier(t).Verify(tc.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !g.ExpiresAt.Equal(tc.want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", g.ExpiresAt, tc.want.ExpiresAt)
			}
			g.ExpiresAt, tc.want.ExpiresAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("Verify = %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestVerifyAfterRotation(t *testing.T) {
	// The rotation is over: previous is gone, and its tokens with it.
	v, err := auth.NewVerifier(audience, current)
	if err != nil {
		t.Fatal(err)
	}
	v.Now = func() time.Time { return now }
	if _, err := v.Verify(sign(hs256, claims(""), previous)); !errors.Is(err, auth.ErrSignature) {
		t.Errorf("Verify(token signed with a retired secret): %v, want ErrSignature", err)
	}
	if _, err := v.Verify(sign(hs256, claims(""), current)); err != nil {
		t.Errorf("Verify(token signed with the current secret): %v", err)
	}
}

func TestVerifyLeeway(t *testing.T) {
	v := newVerifier(t)
	v.Leeway = 0
	token := sign(hs256, claims(fmt.Sprintf(`"exp":%d`, at(-time.Second))), current)
	if _, err := v.Verify(token); !errors.Is(err, auth.ErrExpired) {
		t.Errorf("Verify with no leeway, exp a second ago: %v, want ErrExpired", err)
	}
	v.Leeway = 2 * time.Second
	if _, err := v.Verify(token); err != nil {
		t.Errorf("Verify with 2s leeway, exp a second ago: %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := newVerifier(t)
	good, bad := sign(hs256, claims(""), current), sign(hs256, claims(""), unknown)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(good); err != nil {
					t.Errorf("goroutine %d: Verify(good): %v", i, err)
				}
				if _, err := v.Verify(bad); !errors.Is(err, auth.ErrSignature) {
					t.Errorf("goroutine %d: Verify(bad): %v", i, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestRefusalCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []*auth.Refusal{
		auth.ErrMissing, auth.ErrMalformed, auth.ErrAlgorithm, auth.ErrSignature,
		auth.ErrExpired, auth.ErrNotYetValid, auth.ErrAudience, auth.ErrClaims,
	} {
		if r.Code() == "" || seen[r.Code()] || strings.ContainsAny(r.Code(), " _") {
			t.Errorf("Refusal %q: code %q is empty, taken or not kebab-case", r, r.Code())
		}
		seen[r.Code()] = true
	}
}

func TestNewVerifier(t *testing.T) {
	for _, tc := range []struct {
		name     string
		audience string
		secrets  [][]byte
		short    bool
	}{
		{"no audience", "", [][]byte{current}, false},
		{"no secret", audience, nil, false},
		{"short secret", audience, [][]byte{current[:auth.MinSecretLength-1]}, true},
		{"short second secret", audience, [][]byte{current, []byte("short")}, true},
		{"empty secret", audience, [][]byte{{}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := auth.NewVerifier(tc.audience, tc.secrets...)
			if err == nil {
				t.Fatalf("NewVerifier = %v, want an error", v)
			}
			if got := errors.Is(err, auth.ErrShortSecret); got != tc.short {
				t.Errorf("NewVerifier: %v; wraps ErrShortSecret: %v, want %v", err, got, tc.short)
			}
		})
	}
	t.Run("copies the secrets", func(t *testing.T) {
		s := append([]byte(nil), current...)
		v, err := auth.NewVerifier(audience, s)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return now }
		s[0] ^= 1
		if _, err := v.Verify(sign(hs256, claims(""), current)); err != nil {
			t.Errorf("Verify after the caller changed its slice: %v", err)
		}
	})
}

func TestGrantAllowsRoom(t *testing.T) {
	for _, tc := range []struct {
		rooms []string
		room  string
		want  bool
	}{
		{nil, room1, true},
		{[]string{room1}, room1, true},
		{[]string{strings.ToUpper(room1)}, room1, true},
		{[]string{room1, room2}, room2, true},
		{[]string{room1}, room2, false},
		{[]string{room1}, "", false},
	} {
		g := auth.Grant{Rooms: tc.rooms}
		if got := g.AllowsRoom(tc.room); got != tc.want {
			t.Errorf("Grant{Rooms: %q}.AllowsRoom(%q) = %v, want %v", tc.rooms, tc.room, got, tc.want)
		}
	}
}

func TestGrantAllowsName(t *testing.T) {
	for _, tc := range []struct {
		pinned, name string
		want         bool
	}{
		{"", "anyone", true},
		{"alice", "alice", true},
		{"alice", "Alice", true},
		{"Alice", "ＡＬＩＣＥ", true},
		{"alice", "bob", false},
		{"alice", "Аlice", false}, // Cyrillic А: refused by package names
		{"alice", "alice ", false},
	} {
		g := auth.Grant{Name: tc.pinned}
		if got := g.AllowsName(tc.name); got != tc.want {
			t.Errorf("Grant{Name: %q}.AllowsName(%q) = %v, want %v", tc.pinned, tc.name, got, tc.want)
		}
	}
}
