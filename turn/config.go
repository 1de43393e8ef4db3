package turn

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slsrtc/slsrtc/auth"
)

// The environment variables LoadConfig reads.
const (
	// EnvSTUNURLs holds the STUN URLs, comma-separated
	// ("stun:turn.example.com:3478").
	EnvSTUNURLs = "STUN_URLS"
	// EnvTURNURLs holds the TURN URLs, comma-separated
	// ("turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349?transport=tcp").
	EnvTURNURLs = "TURN_URLS"
	// EnvTTL holds the credentials' TTL in seconds ("3600").
	EnvTTL = "TURN_TTL"
	// EnvSecrets holds the shared secrets: the SecretString of a Secrets
	// Manager secret, {"current":"…","previous":"…"}.
	EnvSecrets = "TURN_SECRETS"
)

// Settings are a Config's settings as plain strings, as they arrive in the
// environment variables named beside each field.
type Settings struct {
	// STUNURLs are STUN URLs separated by commas (STUN_URLS); white space
	// around each is ignored. "": none.
	STUNURLs string
	// TURNURLs are TURN URLs separated by commas (TURN_URLS). "": no TURN.
	TURNURLs string
	// TTL is the credentials' TTL, a whole number of seconds (TURN_TTL).
	// "": DefaultTTL.
	TTL string
	// Secrets is the SecretString of the Secrets Manager secret that holds
	// the shared secrets (TURN_SECRETS): {"current":"…","previous":"…"},
	// as auth.ParseSecrets reads it. Required with TURN URLs.
	Secrets string
}

// LoadConfig reads the Settings from the environment variables EnvSTUNURLs,
// EnvTURNURLs, EnvTTL and EnvSecrets through getenv (os.Getenv in the
// Lambda) and returns ParseConfig's result.
func LoadConfig(getenv func(string) string) (Config, error) {
	return ParseConfig(Settings{
		STUNURLs: getenv(EnvSTUNURLs),
		TURNURLs: getenv(EnvTURNURLs),
		TTL:      getenv(EnvTTL),
		Secrets:  getenv(EnvSecrets),
	})
}

// ParseConfig parses and validates s. Every setting may be empty: no STUN and
// no TURN is a valid Config that hands out no servers. TURN URLs need
// Secrets; Secrets without TURN URLs are an error too (most likely the URLs
// were forgotten), while a TTL without them is only checked (a template may
// always set it).
//
// It returns an error that names the variable of every setting that is
// wrong, and why: a URL that ParseURL refuses, a TURN URL among the STUN
// URLs or the reverse, the same URL twice, an empty item between commas, a
// TTL that is not a whole number of seconds from MinTTL to MaxTTL, secrets
// that auth.ParseSecrets refuses (shorter than auth.MinSecretLength
// included), or a secret a TURN server cannot be configured with (see
// ErrSecretCharacters). No error contains any part of a secret.
func ParseConfig(s Settings) (Config, error) {
	var c Config
	var problems []error
	problem := func(name string, err error) { problems = append(problems, fmt.Errorf("turn: %s: %w", name, err)) }

	var err error
	if c.STUN, err = parseURLList(s.STUNURLs, false); err != nil {
		problem(EnvSTUNURLs, err)
	}
	if c.TURN, err = parseURLList(s.TURNURLs, true); err != nil {
		problem(EnvTURNURLs, err)
	}
	if c.TTL, err = parseTTL(s.TTL); err != nil {
		problem(EnvTTL, err)
	}
	if s.Secrets != "" {
		if c.Secrets, err = parseSecrets(s.Secrets); err != nil {
			problem(EnvSecrets, err)
		}
	}
	switch {
	case strings.TrimSpace(s.TURNURLs) != "" && s.Secrets == "":
		problem(EnvSecrets, fmt.Errorf("required with %s", EnvTURNURLs))
	case strings.TrimSpace(s.TURNURLs) == "" && s.Secrets != "":
		problem(EnvSecrets, fmt.Errorf("set, but %s is empty: no credentials would be signed", EnvTURNURLs))
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return c, nil
}

// parseURLList parses comma-separated URLs, all TURN URLs if turn, else all
// STUN URLs.
func parseURLList(list string, turn bool) ([]URL, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var urls []URL
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errors.New("has an empty item (two commas, or one at either end)")
		}
		u, err := ParseURL(item)
		switch {
		case err != nil:
			return nil, err
		case u.IsTURN() && !turn:
			return nil, fmt.Errorf("%q is a TURN URL; it belongs in %s", item, EnvTURNURLs)
		case !u.IsTURN() && turn:
			return nil, fmt.Errorf("%q is a STUN URL; it belongs in %s", item, EnvSTUNURLs)
		case slices.Contains(urls, u):
			return nil, fmt.Errorf("%q is listed twice", item)
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// parseTTL reads whole seconds; "" is DefaultTTL.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTTL, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < int64(MinTTL/time.Second) || n > int64(MaxTTL/time.Second) {
		return 0, fmt.Errorf("%q is not a whole number of seconds from %d to %d",
			s, MinTTL/time.Second, MaxTTL/time.Second)
	}
	return time.Duration(n) * time.Second, nil
}

// ErrSecretCharacters is returned (wrapped) by ParseConfig for a secret that
// a TURN server cannot be configured with: coturn reads static-auth-secret
// as one line of its configuration file and uses it as a C string, so a
// secret with a NUL, a line break, or white space at either end would not
// be the secret coturn checks credentials with.
var ErrSecretCharacters = errors.New("secret has a NUL, a line break, or white space at either end, which a TURN server's configuration cannot hold")

// parseSecrets reads the secrets as package auth does, and refuses those a
// TURN server's configuration cannot hold.
func parseSecrets(s string) ([][]byte, error) {
	secrets, err := auth.ParseSecrets(s)
	if err != nil {
		return nil, err
	}
	for i, secret := range secrets {
		text := string(secret)
		if strings.ContainsAny(text, "\x00\r\n") || strings.TrimSpace(text) != text {
			return nil, fmt.Errorf("%s secret: %w", []string{"current", "previous"}[i], ErrSecretCharacters)
		}
	}
	return secrets, nil
}
