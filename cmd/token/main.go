// Command token mints a token for a stack that requires one at $connect: an
// HS256 JWT that package auth verifies, printed on stdout.
//
//	go run ./cmd/token -secret-file secret.json -name alice -room ROOM_ID -ttl 1h
//
// The secret comes from a file (-secret-file) or an environment variable
// (-secret-env), never from the command line, where it would land in the
// shell's history and the process list. Either holds the secret itself, or
// the SecretString of the stack's Secrets Manager secret
// ({"current":"…","previous":"…"}, see auth.ParseSecrets), whose current
// secret signs; for example:
//
//	aws secretsmanager get-secret-value --secret-id NAME --query SecretString --output text > secret.json
//
// Connect with the token as the query parameter: wss://…/slsrtc?token=TOKEN.
// Run with -h for every flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/internal/cmdline"
	"github.com/slsrtc/slsrtc/internal/secretsource"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// clock is the time tokens are issued at; tests stop it.
var clock = time.Now

const usage = `usage: token (-secret-file FILE | -secret-env NAME) [flags]

Mints an HS256 JWT for a slsrtc stack that requires tokens at $connect and
prints it on stdout. Clients pass it as ?token=TOKEN on the WebSocket URL.

The secret file or variable holds either the secret itself (at least %d
bytes; a trailing newline is dropped) or the JSON SecretString of the stack's
Secrets Manager secret, {"current":"...","previous":"..."}, whose current
secret signs.

Without -name, -room or -create the token lets its holder use any name and
enter any room, but not create rooms.

flags:
`

// roomList is the repeatable -room flag.
type roomList []string

func (r *roomList) String() string { return strings.Join(*r, ",") }

func (r *roomList) Set(s string) error {
	if s == "" {
		return errors.New("empty room ID")
	}
	*r = append(*r, s)
	return nil
}

// run is main with its inputs and outputs explicit. It returns the exit
// code: 0 with the token printed (or after -h), 2 for bad flags, 1 when the
// secret cannot be read or is too short, or the grant is invalid.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		secretFile = fs.String("secret-file", "", "read the secret from this `file` (the secret, or the Secrets Manager SecretString JSON)")
		secretEnv  = fs.String("secret-env", "", "read the secret from this environment `variable` (the secret, or the SecretString JSON)")
		audience   = fs.String("aud", "slsrtc", "the token's audience (aud): the stack's configured audience")
		name       = fs.String("name", "", "the only user `name` the holder may use (name claim; compared like user names: alice = Alice); default any")
		create     = fs.Bool("create", false, "let the holder create rooms (create claim)")
		ttl        = fs.Duration("ttl", time.Hour, "how long the token is valid (exp = now + ttl; at least 1s)")
		subject    = fs.String("sub", "", "who the token is for (sub claim); default none")
		rooms      roomList
	)
	fs.Var(&rooms, "room", "a room `ID` the holder may enter (room claim); repeat for several; default any room")
	if code, done := cmdline.Parse(fs, args, fmt.Sprintf(usage, auth.MinSecretLength), stderr); done {
		return code
	}
	if (*secretFile == "") == (*secretEnv == "") {
		fmt.Fprintln(stderr, "token: give exactly one of -secret-file and -secret-env (see -h)")
		return 2
	}
	secret, err := readSecret(*secretFile, *secretEnv)
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 1
	}
	token, err := auth.Mint(secret, *audience, auth.Grant{
		Subject: *subject,
		Name:    *name,
		Rooms:   rooms,
		Create:  *create,
	}, *ttl, clock())
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// readSecret returns the signing secret from the file or the environment
// variable: the SecretString's current secret when the content is a JSON
// object, else the content itself without a trailing newline. Its errors
// never quote the content.
func readSecret(file, env string) ([]byte, error) {
	content, err := secretsource.Read(file, env)
	if err != nil {
		return nil, err
	}
	content = strings.TrimSuffix(strings.TrimSuffix(content, "\n"), "\r")
	if strings.HasPrefix(strings.TrimSpace(content), "{") {
		secrets, err := auth.ParseSecrets(content)
		if err != nil {
			return nil, err
		}
		return secrets[0], nil
	}
	if len(content) < auth.MinSecretLength {
		return nil, fmt.Errorf("secret: %w", auth.ErrShortSecret)
	}
	return []byte(content), nil
}
