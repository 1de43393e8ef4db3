package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/slsrtc/slsrtc/auth"
)

// accessFlags are the flags that set who may connect and how much one
// connection may do: the same settings as the template's parameters, given
// to the function as the environment variables the template sets.
type accessFlags struct {
	secretFile, audience, origins *string
	rooms, moves, messages        *int
}

func addAccessFlags(fs *flag.FlagSet) *accessFlags {
	return &accessFlags{
		secretFile: fs.String("auth-secret-file", "", "require a token at $connect (?token=), signed with the secret in this file: the raw secret (32+ bytes) or Secrets Manager's JSON {\"current\":…,\"previous\":…}; go run ./cmd/token mints one"),
		audience:   fs.String("auth-audience", "", "the audience tokens must name (default slsrtc)"),
		origins:    fs.String("allowed-origins", "", "origins (scheme://host[:port], comma-separated) whose pages may connect; default any"),
		rooms:      fs.Int("max-rooms-per-connection", 0, "rooms one connection may create (default 10)"),
		moves:      fs.Int("enters-per-minute", 0, "enters and leaves one connection may make per minute (default 30)"),
		messages:   fs.Int("messages-per-second", 0, "messages one connection may relay per second, in 10-second windows (default 20)"),
	}
}

// environment returns the function's environment variables the flags set.
func (f *accessFlags) environment() (map[string]string, error) {
	env := map[string]string{}
	if *f.secretFile != "" {
		secret, err := readSecretFile("auth-secret-file", *f.secretFile)
		if err != nil {
			return nil, err
		}
		if _, err := auth.ParseSecrets(secret); err != nil {
			return nil, fmt.Errorf("-auth-secret-file %s: %w", *f.secretFile, err)
		}
		env["AUTH_SECRETS"] = secret
	}
	if *f.audience != "" {
		env["AUTH_AUDIENCE"] = *f.audience
	}
	if *f.origins != "" {
		env["ALLOWED_ORIGINS"] = *f.origins
	}
	for _, l := range []struct {
		flag, env string
		v         int
	}{
		{"max-rooms-per-connection", "MAX_ROOMS_PER_CONNECTION", *f.rooms},
		{"enters-per-minute", "ENTERS_PER_MINUTE", *f.moves},
		{"messages-per-second", "MESSAGES_PER_SECOND", *f.messages},
	} {
		if l.v < 0 {
			return nil, fmt.Errorf("-%s %d: a limit is 1 or more", l.flag, l.v)
		}
		if l.v != 0 {
			env[l.env] = strconv.Itoa(l.v)
		}
	}
	return env, nil
}

// readSecretFile reads the secret file a flag names: the raw secret, or
// Secrets Manager's JSON {"current":…,"previous":…}. It returns the JSON
// form, what the function's environment holds.
func readSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("-%s: %w", flag, err)
	}
	secret := strings.TrimSpace(string(b))
	if !strings.HasPrefix(secret, "{") { // a raw secret
		j, _ := json.Marshal(map[string]string{"current": secret})
		secret = string(j)
	}
	return secret, nil
}
