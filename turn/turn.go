// Package turn says which STUN and TURN servers a client should use, with
// time-limited TURN credentials, in the shape of the W3C RTCConfiguration's
// iceServers (webrtc-pc, RTCIceServer): what the backend answers a client's
// {"action":"iceservers"}.
//
// # Credentials
//
// TURN credentials are the "TURN REST API" kind (draft-uberti-behave-turn-rest,
// coturn's use-auth-secret): the backend and the TURN server share a secret,
// and for a participant the backend hands out
//
//	username   = <expiry, Unix seconds> ":" <participant ID>
//	credential = base64(HMAC-SHA1(secret, username))
//
// The TURN server recomputes the credential from the username with each
// secret it knows, and refuses a username whose expiry has passed by its own
// clock. Nothing is stored: a credential cannot be revoked, only left to
// expire, which is why the TTL is short (Config.TTL).
//
// # Rotation
//
// The backend signs with the current secret (Config.Secrets[0]). The TURN
// server is given every secret a credential still in use may have been
// signed with: during a rotation the old and the new one. The secrets come
// in the same Secrets Manager SecretString as the token secrets of package
// auth ({"current":"…","previous":"…"}, see auth.ParseSecrets), and the
// steps are the same; docs/turn.md has them for a TURN server.
//
// # No TURN
//
// A Config without TURN URLs gives STUN servers only (or none at all, when
// it has no STUN URLs either): clients then connect only where their NATs
// allow a direct path. Config.HasTURN tells a caller which case it is in, so
// that it can say so to the client.
package turn

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A Config is the STUN and TURN servers to hand out and how to sign TURN
// credentials. ParseConfig and LoadConfig build a valid one from the
// environment; one built in code is checked by Validate.
type Config struct {
	// STUN are the STUN URLs (stun: and stuns:); they need no credentials.
	STUN []URL
	// TURN are the TURN URLs (turn: and turns:), which share one set of
	// credentials. None: no TURN.
	TURN []URL
	// TTL is how long a TURN credential is valid from when it is issued, a
	// whole number of seconds from MinTTL to MaxTTL. Only used with TURN.
	TTL time.Duration
	// Secrets are the shared secrets, current first; credentials are signed
	// with the current one. The others are accepted by the TURN server
	// during a rotation, not used here. Required with TURN.
	Secrets [][]byte
}

// Bounds and default of Config.TTL.
const (
	// MinTTL is the shortest TTL: enough for a client to receive the
	// credentials and allocate.
	MinTTL = time.Minute
	// MaxTTL is the longest TTL: a leaked credential relays for anyone until
	// it expires, and a retired secret stays in the TURN server's list at
	// least this long (docs/turn.md).
	MaxTTL = 24 * time.Hour
	// DefaultTTL is the TTL when TURN_TTL is not set: long enough that a
	// client in a room rarely needs new credentials, short enough that one
	// leaked is of little use for long (docs/turn.md).
	DefaultTTL = time.Hour
)

// MaxParticipantIDLength is the longest participant ID ICEServers puts in a
// username, in bytes. STUN's USERNAME holds fewer than 509 bytes (RFC 8489,
// section 14.3); a slsrtc participant ID (a UUID) has 36 characters.
const MaxParticipantIDLength = 128

// ErrParticipantID is returned by ICEServers for a participant ID that
// cannot be part of a TURN username: empty, longer than
// MaxParticipantIDLength, or with a byte other than printable ASCII
// (0x21 to 0x7E; no space).
var ErrParticipantID = errors.New("turn: participant ID is empty, too long, or not printable ASCII without spaces")

// An ICEServer is one entry of RTCConfiguration.iceServers (W3C webrtc-pc,
// dictionary RTCIceServer). It marshals to exactly that JSON: "urls" always
// a list, "username" and "credential" only for TURN servers.
type ICEServer struct {
	// URLs are the server's STUN or TURN URLs, in canonical form.
	URLs []string `json:"urls"`
	// Username is the TURN username: <expiry Unix seconds>:<participant ID>.
	Username string `json:"username,omitempty"`
	// Credential is the TURN password: base64(HMAC-SHA1(secret, Username)).
	Credential string `json:"credential,omitempty"`
}

// HasTURN reports whether c hands out TURN servers. Without them a client
// behind a NAT that allows no direct path cannot connect.
func (c Config) HasTURN() bool { return len(c.TURN) > 0 }

// ICEServers returns the ICE servers for the participant at now: one entry
// with the STUN URLs (if any), then one with the TURN URLs (if any) and
// credentials for participantID that expire c.TTL after now, counted from
// now's whole second.
// It returns the TTL of those credentials, 0 when c has no TURN. Without
// STUN or TURN URLs it returns an empty, non-nil list (JSON []).
//
// participantID names who the credentials were issued to, in the TURN
// server's logs and quotas (its user-quota counts allocations per
// participant); in slsrtc it is the participant ID (a UUID), which a resume keeps. ICEServers returns
// ErrParticipantID for an ID that cannot be part of a username, and the
// error of Validate for a Config that is not valid. It is a pure function of
// its arguments.
func (c Config) ICEServers(participantID string, now time.Time) ([]ICEServer, time.Duration, error) {
	if err := checkParticipantID(participantID); err != nil {
		return nil, 0, err
	}
	if err := c.Validate(); err != nil {
		return nil, 0, err
	}
	servers := []ICEServer{}
	if len(c.STUN) > 0 {
		servers = append(servers, ICEServer{URLs: urlStrings(c.STUN)})
	}
	if !c.HasTURN() {
		return servers, 0, nil
	}
	username := strconv.FormatInt(now.Unix()+int64(c.TTL/time.Second), 10) + ":" + participantID
	servers = append(servers, ICEServer{
		URLs:       urlStrings(c.TURN),
		Username:   username,
		Credential: credential(c.Secrets[0], username),
	})
	return servers, c.TTL, nil
}

// credential is the TURN REST API password of username under secret:
// base64(HMAC-SHA1(secret, username)), standard alphabet with padding
// (draft-uberti-behave-turn-rest-00, section 2.2; what coturn computes).
func credential(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Validate returns an error if c cannot hand out servers: a URL of the wrong
// kind in STUN or TURN, or TURN URLs without a secret or with a TTL that is
// not a whole number of seconds from MinTTL to MaxTTL. It does not check
// the URLs' syntax (ParseURL does) nor the secrets' (ParseConfig does).
func (c Config) Validate() error {
	for _, u := range c.STUN {
		if u.IsTURN() {
			return fmt.Errorf("turn: %s is a TURN URL among the STUN URLs", u)
		}
	}
	for _, u := range c.TURN {
		if !u.IsTURN() {
			return fmt.Errorf("turn: %s is a STUN URL among the TURN URLs", u)
		}
	}
	if !c.HasTURN() {
		return nil
	}
	if len(c.Secrets) == 0 || len(c.Secrets[0]) == 0 {
		return errors.New("turn: TURN URLs without a secret to sign credentials with")
	}
	if c.TTL < MinTTL || c.TTL > MaxTTL || c.TTL%time.Second != 0 {
		return fmt.Errorf("turn: TTL %v is not a whole number of seconds from %v to %v", c.TTL, MinTTL, MaxTTL)
	}
	return nil
}

func checkParticipantID(id string) error {
	if id == "" || len(id) > MaxParticipantIDLength {
		return ErrParticipantID
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return ErrParticipantID
		}
	}
	return nil
}

func urlStrings(urls []URL) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u.String()
	}
	return out
}
