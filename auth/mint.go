package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/slsrtc/slsrtc/names"
)

// Mint returns a token for audience that grants g, signed with secret (HS256),
// issued at now and expiring ttl later (both in whole seconds, as JWTs count
// them): the token cmd/token prints and the tests use. g.ExpiresAt is not
// read. The room claim is written as a list; name, room, sub and create are
// left out when empty or false.
//
// Mint refuses what Verify would refuse: a secret shorter than
// MinSecretLength (wrapping ErrShortSecret), an empty audience, a ttl under
// one second, a Name that package names refuses, an empty room ID.
func Mint(secret []byte, audience string, g Grant, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case len(secret) < MinSecretLength:
		return "", fmt.Errorf("auth: %w", ErrShortSecret)
	case audience == "":
		return "", errors.New("auth: no audience")
	case ttl < time.Second:
		return "", errors.New("auth: ttl is under one second")
	}
	claims := jwt.MapClaims{
		"aud": audience,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	if g.Subject != "" {
		claims["sub"] = g.Subject
	}
	if g.Name != "" {
		if _, err := names.Normalize(g.Name); err != nil {
			return "", fmt.Errorf("auth: name: %w", err)
		}
		claims["name"] = g.Name
	}
	if len(g.Rooms) > 0 {
		for _, r := range g.Rooms {
			if r == "" {
				return "", errors.New("auth: empty room ID")
			}
		}
		claims["room"] = g.Rooms
	}
	if g.Create {
		claims["create"] = true
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
