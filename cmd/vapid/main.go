// Command vapid makes the VAPID key pair a stack signs its Web Push messages
// with (RFC 8292), as the JSON of the Secrets Manager secret that
// push.ParseVAPID reads, and prints the public key a page subscribes with.
//
//	go run ./cmd/vapid -subject mailto:ops@example.com > vapid.json
//	aws secretsmanager create-secret --name slsrtc/vapid --secret-string file://vapid.json
//	go run ./cmd/vapid -public -secret-file vapid.json
//
// The first prints {"publicKey":"…","privateKey":"…","subject":"…"} on
// stdout and the public key on stderr; the last checks a secret (from a
// file, or an environment variable with -secret-env) and prints its public
// key alone, the applicationServerKey the page passes to
// pushManager.subscribe. The private key is only ever written to stdout.
// Run with -h for every flag.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/slsrtc/slsrtc/internal/cmdline"
	"github.com/slsrtc/slsrtc/internal/secretsource"
	"github.com/slsrtc/slsrtc/push"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vapid -subject CONTACT
       vapid -public (-secret-file FILE | -secret-env NAME)

The first form makes a new VAPID key pair (P-256) and prints the JSON of the
Secrets Manager secret on stdout:

  {"publicKey":"<base64url, 65 bytes>","privateKey":"<base64url, 32 bytes>","subject":"CONTACT"}

and the public key on stderr. CONTACT is how a push service's operator can
reach you: mailto:address or an https: URL.

The second form checks a secret (the private key must be the public key's)
and prints its public key alone: the page's applicationServerKey.

Subscriptions are bound to the public key they were made with: a new key
pair makes every existing subscription fail (docs/push.md, "Rotating the
VAPID key").

flags:
`

// run is main with its inputs and outputs explicit. It returns the exit
// code: 0 on success (or after -h), 2 for bad flags, 1 when the subject or
// the secret is invalid or unreadable.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vapid", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		subject    = fs.String("subject", "", "the contact the JWTs carry as sub: mailto:`address` or an https: URL")
		public     = fs.Bool("public", false, "print the public key of an existing secret instead of making one")
		secretFile = fs.String("secret-file", "", "with -public: read the secret JSON from this `file`")
		secretEnv  = fs.String("secret-env", "", "with -public: read the secret JSON from this environment `variable`")
	)
	if code, done := cmdline.Parse(fs, args, usage, stderr); done {
		return code
	}
	if *public {
		if *subject != "" || (*secretFile == "") == (*secretEnv == "") {
			fmt.Fprintln(stderr, "vapid: -public takes exactly one of -secret-file and -secret-env, and no -subject (see -h)")
			return 2
		}
		v, err := readSecret(*secretFile, *secretEnv)
		if err != nil {
			fmt.Fprintf(stderr, "vapid: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, v.PublicKey())
		return 0
	}
	if *secretFile != "" || *secretEnv != "" {
		fmt.Fprintln(stderr, "vapid: -secret-file and -secret-env go with -public (see -h)")
		return 2
	}
	if *subject == "" {
		fmt.Fprintln(stderr, "vapid: give -subject mailto:address or -subject https://… (see -h)")
		return 2
	}
	v, err := push.NewVAPID(*subject)
	if err != nil {
		fmt.Fprintf(stderr, "vapid: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, v.Secret())
	fmt.Fprintf(stderr, "applicationServerKey (public): %s\n", v.PublicKey())
	return 0
}

// readSecret parses the secret JSON from the file or the environment
// variable. Its errors never quote the content.
func readSecret(file, env string) (*push.VAPID, error) {
	content, err := secretsource.Read(file, env)
	if err != nil {
		return nil, err
	}
	return push.ParseVAPID(content)
}
