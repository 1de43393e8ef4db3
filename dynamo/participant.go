package dynamo

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Participant is who is behind a connection, beyond the connection itself:
// the ID the backend issued when it connected, which stays the same when a
// new connection resumes it, and the token that lets one new connection do
// so (single use: a resume issues the next one).
type Participant struct {
	ID          string
	ResumeToken string
}

// resumeSecretBytes is the size of a resume token's secret: 256 random bits.
const resumeSecretBytes = 32

// maxResumeToken bounds the token ParseResumeToken reads: an encoded
// connection ID of up to 128 bytes, a dot and the encoded secret.
const maxResumeToken = 256

// ErrBadResumeToken: a resume token that is not one the store issues (its
// shape, not whether it is valid: that takes the stored hash).
var ErrBadResumeToken = errors.New("not a resume token")

// newResumeToken returns a fresh token for a connection, and the hash of its
// secret that the connection's item keeps (the token itself is never
// stored). The token is base64url(connection ID) "." base64url(secret): the
// ID says which item to check the secret against.
func newResumeToken(random io.Reader, connectionID string) (token, hash string, err error) {
	secret := make([]byte, resumeSecretBytes)
	if _, err := io.ReadFull(random, secret); err != nil {
		return "", "", fmt.Errorf("resume token: %w", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(connectionID)) + "." + enc.EncodeToString(secret), secretHash(secret), nil
}

// parseResumeToken returns the connection a resume token was issued to and
// its secret; ErrBadResumeToken if it is not of the shape newResumeToken
// makes.
func parseResumeToken(token string) (connectionID string, secret []byte, err error) {
	if len(token) > maxResumeToken {
		return "", nil, ErrBadResumeToken
	}
	id, sec, ok := strings.Cut(token, ".")
	if !ok {
		return "", nil, ErrBadResumeToken
	}
	enc := base64.RawURLEncoding
	rawID, err := enc.DecodeString(id)
	if err != nil || len(rawID) == 0 {
		return "", nil, ErrBadResumeToken
	}
	secret, err = enc.DecodeString(sec)
	if err != nil || len(secret) != resumeSecretBytes {
		return "", nil, ErrBadResumeToken
	}
	return string(rawID), secret, nil
}

// secretHash is what a connection's item keeps of its resume token: the
// SHA-256 of the secret, base64. The secret is 256 random bits, so a plain
// hash is enough: there is nothing to guess.
func secretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// secretMatches reports whether secret hashes to hash, in constant time.
func secretMatches(secret []byte, hash string) bool {
	return hash != "" && subtle.ConstantTimeCompare([]byte(secretHash(secret)), []byte(hash)) == 1
}
