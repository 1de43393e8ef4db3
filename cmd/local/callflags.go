package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/slsrtc/slsrtc/turn"
)

// callFlags are the flags of what keeps a call going: the resume window and
// the ICE servers handed to clients, the same settings as the template's
// parameters, given to the function as the environment variables the
// template sets.
type callFlags struct {
	resumeGrace                  *time.Duration
	stunURLs, turnURLs, turnFile *string
	turnTTL                      *time.Duration
}

func addCallFlags(fs *flag.FlagSet) *callFlags {
	return &callFlags{
		resumeGrace: fs.Duration("resume-grace", -1, "how long a member whose connection dropped keeps its seat for a resume, in whole seconds (0 turns resume off; default 30s)"),
		stunURLs:    fs.String("stun-urls", "", "STUN URLs handed to clients (comma-separated, e.g. stun:127.0.0.1:3478)"),
		turnURLs:    fs.String("turn-urls", "", "TURN URLs handed to clients with credentials (comma-separated, e.g. turn:127.0.0.1:3478?transport=udp); needs -turn-secret-file"),
		turnFile:    fs.String("turn-secret-file", "", "the TURN server's static-auth-secret, in this file: the raw secret (32+ bytes) or Secrets Manager's JSON {\"current\":…,\"previous\":…}"),
		turnTTL:     fs.Duration("turn-ttl", 0, "how long TURN credentials work, in whole seconds from 1m to 24h (default 1h)"),
	}
}

// environment returns the function's environment variables the flags set,
// after checking them as the function will.
func (f *callFlags) environment() (map[string]string, error) {
	env := map[string]string{}
	if g := *f.resumeGrace; g >= 0 {
		if g%time.Second != 0 || g > 10*time.Minute {
			return nil, fmt.Errorf("-resume-grace %v: a whole number of seconds up to 10m", g)
		}
		env["RESUME_GRACE_SECONDS"] = strconv.Itoa(int(g / time.Second))
	}
	settings := turn.Settings{STUNURLs: *f.stunURLs, TURNURLs: *f.turnURLs}
	if *f.turnTTL != 0 {
		settings.TTL = strconv.FormatInt(int64(*f.turnTTL/time.Second), 10)
		if *f.turnTTL%time.Second != 0 {
			return nil, fmt.Errorf("-turn-ttl %v: a whole number of seconds", *f.turnTTL)
		}
	}
	if *f.turnFile != "" {
		secret, err := readSecretFile("turn-secret-file", *f.turnFile)
		if err != nil {
			return nil, err
		}
		settings.Secrets = secret
	}
	if _, err := turn.ParseConfig(settings); err != nil {
		return nil, fmt.Errorf("ICE server flags: %w", err)
	}
	for name, v := range map[string]string{turn.EnvSTUNURLs: settings.STUNURLs, turn.EnvTURNURLs: settings.TURNURLs,
		turn.EnvTTL: settings.TTL, turn.EnvSecrets: settings.Secrets} {
		if v != "" {
			env[name] = v
		}
	}
	return env, nil
}
