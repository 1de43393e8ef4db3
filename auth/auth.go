// Package auth verifies the token a client presents when it connects, and
// says what the token allows.
//
// A token is a standard JWT (RFC 7519) signed with HMAC-SHA256 (HS256) under
// a secret shared by whoever mints tokens and the function. Browsers cannot
// set headers on a WebSocket, so the client passes it as the query parameter
// ?token= of the $connect request; Verifier.Verify checks it before anything
// is written, and returns the Grant it carries.
//
// # Claims
//
//	aud     required; a string or a list of strings that contains the
//	        Verifier's audience (for example "slsrtc")
//	exp     required; the token is refused after it (NumericDate, seconds)
//	nbf     optional; the token is refused before it
//	iat     optional; a token issued in the future is refused
//	sub     optional string: who the token was issued to (Grant.Subject)
//	name    optional non-empty string: the only user name the holder may use,
//	        compared as package names compares names (Grant.Name)
//	room    optional: a room ID, or a non-empty list of room IDs, the only
//	        rooms the holder may enter (Grant.Rooms); absent means any room
//	create  optional boolean: whether the holder may create rooms
//	        (Grant.Create); absent means false
//
// The times allow Verifier.Leeway of clock skew. A claim that is present must
// have its type: a null, an empty string or an empty list is refused, not
// read as "any" (a minting script that lost the room list must not grant
// every room). Other claims (iss, jti, ...) are ignored.
//
// # Refusals
//
// Every error Verify returns wraps exactly one of the Refusal values
// (ErrMissing, ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired,
// ErrNotYetValid, ErrAudience, ErrClaims), so the caller can log why a
// handshake was refused (Refusal.Code) without logging the token: no error
// of this package quotes it. Their detail is fixed words and claim names,
// and, once the signature is good, the time in exp, nbf or iat.
//
// # Secrets and rotation
//
// A Verifier holds one or two secrets and accepts a token signed with any of
// them, so a secret can be rotated without refusing the tokens already
// issued: the old and the new one are both accepted until the tokens the old
// one signed have expired (ParseSecrets has the steps).
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/slsrtc/slsrtc/names"
)

const (
	// MinSecretLength is the fewest bytes a secret may have: 32 bytes, the
	// size of an HMAC-SHA256 output (RFC 7518, section 3.2).
	MinSecretLength = 32
	// MaxTokenLength bounds the token Verify reads, in bytes; a longer one is
	// refused (ErrMalformed) before any decoding. It leaves room for about
	// 150 room IDs.
	MaxTokenLength = 8192
	// DefaultLeeway is the clock skew NewVerifier allows on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// algorithm is the only signing algorithm accepted.
	algorithm = "HS256"
)

// A Refusal is why Verify refused a token. The variables below are the only
// Refusals; errors wrap them with detail (never the token's text, see the
// package documentation), and errors.Is and errors.As find them.
type Refusal struct {
	code, text string
}

// Error returns a fixed sentence for the reason.
func (r *Refusal) Error() string { return r.text }

// Code returns a short, stable name for the reason ("expired", "signature"),
// for a log field or a metric dimension.
func (r *Refusal) Code() string { return r.code }

// The reasons Verify refuses a token.
var (
	// ErrMissing: there is no token.
	ErrMissing = &Refusal{"missing", "no token"}
	// ErrMalformed: the token is not a compact JWS of three base64url
	// segments with a JSON header and a JSON object payload, is longer than
	// MaxTokenLength, or has a "crit" header (no extension is understood).
	ErrMalformed = &Refusal{"malformed", "token is not a well-formed JWT"}
	// ErrAlgorithm: the header's alg is not HS256 ("none", RS256, ...).
	ErrAlgorithm = &Refusal{"algorithm", "token is not signed with HS256"}
	// ErrSignature: no secret of the Verifier produces the token's signature.
	ErrSignature = &Refusal{"signature", "token signature does not match"}
	// ErrExpired: now is after exp (plus the leeway).
	ErrExpired = &Refusal{"expired", "token has expired"}
	// ErrNotYetValid: now is before nbf, or before iat (minus the leeway).
	ErrNotYetValid = &Refusal{"not-yet-valid", "token is not valid yet"}
	// ErrAudience: aud is missing, or does not contain the audience.
	ErrAudience = &Refusal{"audience", "token is not for this service"}
	// ErrClaims: exp is missing, or a claim has the wrong type or an empty
	// value (see the package documentation).
	ErrClaims = &Refusal{"claims", "token has invalid claims"}
)

// ErrShortSecret is returned for a secret shorter than MinSecretLength, by
// NewVerifier, ParseSecrets and Mint.
var ErrShortSecret = fmt.Errorf("secret is shorter than %d bytes", MinSecretLength)

// A Grant is what a verified token allows its holder.
type Grant struct {
	// Subject is the sub claim: who the token was issued to ("" if absent).
	Subject string
	// Name is the only user name the holder may use; "" allows any.
	Name string
	// Rooms are the only rooms the holder may enter; empty allows any.
	Rooms []string
	// Create is whether the holder may create rooms.
	Create bool
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// AllowsName reports whether the holder may use the user name name: any name
// when the grant pins none, else a name that package names holds to be the
// same as Grant.Name ("Alice" for "alice").
func (g Grant) AllowsName(name string) bool {
	return g.Name == "" || names.Equal(g.Name, name)
}

// AllowsRoom reports whether the holder may enter the room roomID: any room
// when the grant lists none, else one of Grant.Rooms, ignoring case (room
// IDs are UUIDs, which enterroom accepts in any case).
func (g Grant) AllowsRoom(roomID string) bool {
	if len(g.Rooms) == 0 {
		return true
	}
	for _, r := range g.Rooms {
		if strings.EqualFold(r, roomID) {
			return true
		}
	}
	return false
}

// A Verifier verifies tokens for one audience against one or more secrets.
// Build it with NewVerifier; set its fields, if at all, before its first
// use. It is safe for concurrent use.
type Verifier struct {
	// Now returns the current time. NewVerifier sets time.Now; tests set a
	// fixed clock.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat. NewVerifier sets
	// DefaultLeeway.
	Leeway time.Duration

	audience string
	keys     jwt.VerificationKeySet
}

// NewVerifier returns a Verifier that accepts tokens for audience signed
// with any of secrets (two during a rotation, see ParseSecrets). It copies
// the secrets. It returns an error if audience is empty, if there is no
// secret, or, wrapping ErrShortSecret, if a secret is shorter than
// MinSecretLength.
func NewVerifier(audience string, secrets ...[]byte) (*Verifier, error) {
	if audience == "" {
		return nil, errors.New("auth: no audience")
	}
	if len(secrets) == 0 {
		return nil, errors.New("auth: no secret")
	}
	v := &Verifier{Now: time.Now, Leeway: DefaultLeeway, audience: audience}
	for i, s := range secrets {
		if len(s) < MinSecretLength {
			return nil, fmt.Errorf("auth: secret %d: %w", i+1, ErrShortSecret)
		}
		v.keys.Keys = append(v.keys.Keys, append([]byte(nil), s...))
	}
	return v, nil
}

// Verify checks token and returns what it grants. The token must be an HS256
// JWT signed with one of the Verifier's secrets, for its audience, with an
// exp in the future, no nbf or iat in the future, and claims of the right
// types (see the package documentation). Otherwise Verify returns an error
// wrapping one Refusal: ErrMissing, ErrMalformed, ErrAlgorithm, ErrSignature,
// ErrExpired, ErrNotYetValid, ErrAudience or ErrClaims.
func (v *Verifier) Verify(token string) (Grant, error) {
	if token == "" {
		return Grant{}, ErrMissing
	}
	if len(token) > MaxTokenLength {
		return Grant{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	now := v.Now()
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{algorithm}),
		jwt.WithStrictDecoding(),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(v.audience),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	claims := jwt.MapClaims{}
	tok, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.keys, nil })
	if err != nil {
		return Grant{}, refusal(tok, claims, err)
	}
	if _, ok := tok.Header["crit"]; ok {
		return Grant{}, fmt.Errorf("%w: crit header", ErrMalformed)
	}
	return grant(claims)
}

// refusal turns the error of jwt.Parser.ParseWithClaims into a Refusal. It
// never wraps the library's error: its text can quote the token (a JSON
// syntax error quotes the offending character).
func refusal(tok *jwt.Token, claims jwt.MapClaims, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case tok == nil:
		return ErrMalformed
	case tok.Header["alg"] != algorithm:
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrSignature
	case !errors.Is(err, jwt.ErrTokenInvalidClaims):
		// ErrTokenUnverifiable for a header the library cannot use.
		return ErrMalformed
	}
	// The signature is good: the claims are ours, and their values (times,
	// claim names) may go into the error.
	switch {
	case errors.Is(err, jwt.ErrInvalidType):
		return badType(claims)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		if exp, _ := claims.GetExpirationTime(); exp == nil {
			return fmt.Errorf("%w: no exp", ErrClaims)
		}
		return fmt.Errorf("%w: no aud", ErrAudience)
	case errors.Is(err, jwt.ErrTokenExpired):
		exp, _ := claims.GetExpirationTime()
		return fmt.Errorf("%w: exp %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		nbf, _ := claims.GetNotBefore()
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, nbf.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		iat, _ := claims.GetIssuedAt()
		return fmt.Errorf("%w: iat %s", ErrNotYetValid, iat.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrAudience
	}
	return ErrClaims
}

// badType returns an error wrapping ErrClaims that names the first
// registered claim of the wrong type.
func badType(claims jwt.MapClaims) error {
	c := ""
	if _, err := claims.GetExpirationTime(); err != nil {
		c = "exp"
	} else if _, err := claims.GetNotBefore(); err != nil {
		c = "nbf"
	} else if _, err := claims.GetIssuedAt(); err != nil {
		c = "iat"
	} else if _, err := claims.GetAudience(); err != nil {
		c = "aud"
	} else {
		return ErrClaims
	}
	return fmt.Errorf("%w: %s has the wrong type", ErrClaims, c)
}

// grant reads the claims of a verified token into a Grant, refusing
// (ErrClaims) a present claim of the wrong type or with an empty value.
func grant(claims jwt.MapClaims) (Grant, error) {
	var g Grant
	exp, _ := claims.GetExpirationTime() // checked by the parser
	g.ExpiresAt = exp.Time
	if v, ok := claims["sub"]; ok {
		s, ok := v.(string)
		if !ok {
			return Grant{}, fmt.Errorf("%w: sub is not a string", ErrClaims)
		}
		g.Subject = s
	}
	if v, ok := claims["name"]; ok {
		s, ok := v.(string)
		if !ok || s == "" {
			return Grant{}, fmt.Errorf("%w: name is not a non-empty string", ErrClaims)
		}
		if _, err := names.Normalize(s); err != nil {
			return Grant{}, fmt.Errorf("%w: name is not a valid user name", ErrClaims)
		}
		g.Name = s
	}
	if v, ok := claims["room"]; ok {
		rooms, err := roomList(v)
		if err != nil {
			return Grant{}, err
		}
		g.Rooms = rooms
	}
	if v, ok := claims["create"]; ok {
		b, ok := v.(bool)
		if !ok {
			return Grant{}, fmt.Errorf("%w: create is not a boolean", ErrClaims)
		}
		g.Create = b
	}
	return g, nil
}

// roomList reads the room claim: a non-empty string, or a non-empty list of
// non-empty strings.
func roomList(v any) ([]string, error) {
	errRoom := fmt.Errorf("%w: room is not a room ID or a non-empty list of room IDs", ErrClaims)
	switch v := v.(type) {
	case string:
		if v == "" {
			return nil, errRoom
		}
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, errRoom
		}
		rooms := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, errRoom
			}
			rooms = append(rooms, s)
		}
		return rooms, nil
	}
	return nil, errRoom
}
