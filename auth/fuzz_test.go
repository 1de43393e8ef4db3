package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
)

// FuzzVerify feeds Verify any string. It never panics; a refusal wraps a
// Refusal and quotes nothing of the token; and a token it accepts is an
// HS256 JWS whose signature, recomputed here without the library, is the
// HMAC of one of the Verifier's secrets. Seeds: valid tokens (so that
// mutations explore the paths after the signature) and the refusals of
// TestVerifyRefuses' kinds.
func FuzzVerify(f *testing.F) {
	for _, g := range []auth.Grant{{}, {Name: "alice", Rooms: []string{room1, room2}, Create: true, Subject: "u"}} {
		for _, secret := range [][]byte{current, previous, unknown} {
			token, err := auth.Mint(secret, audience, g, time.Hour, now)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(token)
		}
	}
	for _, s := range []string{
		"", "a.b.c", "...", "not a token",
		sign(hs256, claims(`"room":"`+room1+`"`), current),
		sign(hs256, claims(`"room":7`), current),
		sign(hs256, claims(`"exp":"x"`), current),
		sign(hs256, claims(fmt.Sprintf(`"exp":%d`, at(-time.Hour))), current),
		sign(`{"alg":"HS256","crit":["x"]}`, claims(""), current),
		sign(`{"alg":"RS256"}`, claims(""), current),
		unsigned(`{"alg":"none"}`, claims("")),
	} {
		f.Add(s)
	}
	v := newVerifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token)
		if err != nil {
			var r *auth.Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Verify: %v wraps no Refusal", err)
			}
			checkErrorText(t, err, token)
			return
		}
		if !signedWithKnownSecret(token) {
			t.Fatalf("Verify accepted %q (grant %+v), which no known secret signed with HS256", token, g)
		}
	})
}

// signedWithKnownSecret reports whether token is header.payload.signature
// with an HS256 header and the HMAC-SHA256 of header.payload under current
// or previous as its signature.
func signedWithKnownSecret(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	header, err1 := b64.DecodeString(parts[0])
	sig, err2 := b64.DecodeString(parts[2])
	var h struct{ Alg string }
	if err1 != nil || err2 != nil || json.Unmarshal(header, &h) != nil || h.Alg != "HS256" {
		return false
	}
	for _, secret := range [][]byte{current, previous} {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if hmac.Equal(mac.Sum(nil), sig) {
			return true
		}
	}
	return false
}

// FuzzVerifySigned signs any header and payload with a known or an unknown
// secret, so that the fuzzer reaches the claim checks. A token signed with
// the unknown secret is always refused; one signed with a known secret is
// accepted only with an HS256 header and a payload whose aud holds the
// audience and whose exp is a number in the future, and then its grant is
// the payload's claims.
func FuzzVerifySigned(f *testing.F) {
	for _, payload := range []string{
		claims(""),
		claims(`"sub":"u","name":"Alice","room":["` + room1 + `"],"create":true`),
		claims(`"room":"` + room1 + `"`),
		claims(`"room":[7]`),
		claims(`"create":"yes"`),
		claims(`"aud":["x","slsrtc"]`),
		claims(fmt.Sprintf(`"nbf":%d`, at(time.Hour))),
		`{"exp":1e300,"aud":"slsrtc"}`,
		`{"exp":-1e300,"aud":"slsrtc"}`,
		`{}`, `[]`, `null`,
	} {
		for _, which := range []byte{0, 1, 2} {
			f.Add(hs256, payload, which)
		}
	}
	f.Add(`{"alg":"none"}`, claims(""), byte(0))
	f.Add(`{"alg":"HS256","crit":[]}`, claims(""), byte(0))
	v := newVerifier(f)
	f.Fuzz(func(t *testing.T, header, payload string, which byte) {
		secret := [][]byte{current, previous, unknown}[int(which)%3]
		token := sign(header, payload, secret)
		g, err := v.Verify(token)
		if err != nil {
			var r *auth.Refusal
			if !errors.As(err, &r) {
				t.Fatalf("Verify: %v wraps no Refusal", err)
			}
			checkErrorText(t, err, token)
			return
		}
		if string(secret) == string(unknown) {
			t.Fatalf("Verify accepted a token signed with an unknown secret: header %s payload %s", header, payload)
		}
		var h struct{ Alg string }
		if err := json.Unmarshal([]byte(header), &h); err != nil || h.Alg != "HS256" {
			t.Fatalf("Verify accepted header %s", header)
		}
		var c map[string]any // exact keys, as Verify reads them
		if err := json.Unmarshal([]byte(payload), &c); err != nil {
			t.Fatalf("Verify accepted payload %s, which is not a JSON object: %v", payload, err)
		}
		exp, ok := c["exp"].(float64)
		if !ok || !time.Unix(int64(exp), 0).Add(auth.DefaultLeeway+time.Second).After(now) {
			t.Errorf("Verify accepted exp %v at %v: grant %+v", c["exp"], now, g)
		}
		switch aud := c["aud"].(type) {
		case string:
			if aud != audience {
				t.Errorf("Verify accepted aud %q", aud)
			}
		case []any:
			if !slices.Contains(aud, any(audience)) {
				t.Errorf("Verify accepted aud %v", aud)
			}
		default:
			t.Errorf("Verify accepted aud %v", c["aud"])
		}
		if g.Create != (c["create"] == true) {
			t.Errorf("grant allows create: %v, payload %s", g.Create, payload)
		}
		if _, restricted := c["room"]; restricted && len(g.Rooms) == 0 {
			t.Errorf("grant allows any room, payload %s has a room claim", payload)
		}
		if name, _ := c["name"].(string); name != g.Name {
			t.Errorf("grant name %q, payload %s", g.Name, payload)
		}
	})
}
