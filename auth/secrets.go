package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ParseSecrets reads the signing secrets from the SecretString of an AWS
// Secrets Manager secret, which the template hands the function in one
// environment variable through a CloudFormation dynamic reference
// ({{resolve:secretsmanager:NAME:SecretString}}). The SecretString is a JSON
// object:
//
//	{"current": "…", "previous": "…"}
//
// current is required: the secret that new tokens are signed with. previous
// is optional ("" or absent: none): a second secret the function accepts too,
// during a rotation. Each secret is the bytes of its
// string (no base64 decoding) and must be at least MinSecretLength bytes; a
// random string of 43 or more base64 characters (256 bits) is enough, for
// example what Secrets Manager's GenerateSecretString writes with
// GenerateStringKey "current" and a PasswordLength of 64.
//
// The function accepts the two alike; current matters to whoever mints
// tokens from the same secret (cmd/token signs with current). Rotation
// without refusing a valid token, one deploy per step:
//
//  1. put the new secret in previous: the function accepts both, tokens are
//     still signed with the old one;
//  2. swap them (new in current, old in previous): tokens are signed with the
//     new one, and those signed with the old one are still accepted;
//  3. once the last token signed with the old secret has expired, remove
//     previous.
//
// (A minter with its own copy of the secret skips step 1, and switches to the
// new secret once step 2 is deployed.) CloudFormation
// resolves the dynamic reference only when it updates the function, so each
// step must change the function's configuration: reference the secret's
// version, or change a parameter.
//
// ParseSecrets returns the secrets, current first. It returns an error for
// anything else than such an object (other keys included, so that a typo
// such as "previos" is not silently a missing secret), wrapping
// ErrShortSecret for a short secret. No error contains any part of s.
func ParseSecrets(s string) ([][]byte, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return nil, errors.New(`auth: secrets are not a JSON object {"current":"…","previous":"…"}`)
	}
	var current, previous string
	for key, raw := range obj {
		var dst *string
		switch key {
		case "current":
			dst = &current
		case "previous":
			dst = &previous
		default:
			// The key is not quoted: a malformed secret could be a key.
			return nil, errors.New(`auth: secrets have a key other than "current" and "previous"`)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("auth: secrets: %q is not a string", key)
		}
	}
	if current == "" {
		return nil, errors.New(`auth: secrets have no "current" secret`)
	}
	if len(current) < MinSecretLength {
		return nil, fmt.Errorf("auth: current secret: %w", ErrShortSecret)
	}
	secrets := [][]byte{[]byte(current)}
	switch {
	case previous == "" || previous == current:
	case len(previous) < MinSecretLength:
		return nil, fmt.Errorf("auth: previous secret: %w", ErrShortSecret)
	default:
		secrets = append(secrets, []byte(previous))
	}
	return secrets, nil
}
