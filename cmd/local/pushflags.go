package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/slsrtc/slsrtc/push"
)

// pushFlags are the flags of Web Push: the VAPID key pair and contact, the
// push services endpoints may name, and the page notifications open — the
// template's VapidSecretArn, VapidSubject, PushHosts and PushPageUrl, given
// to the function as the environment variables the template sets.
type pushFlags struct {
	keyFile, subject, hosts, pageURL *string
}

func addPushFlags(fs *flag.FlagSet) *pushFlags {
	return &pushFlags{
		keyFile: fs.String("vapid-key-file", "", "send Web Push notifications signed with the VAPID key pair in this file: "+
			`{"publicKey":…,"privateKey":…,"subject":…} as go run ./cmd/vapid prints it`),
		subject: fs.String("vapid-subject", "", "the contact push services see (mailto: or https:), replacing the key file's; needs -vapid-key-file"),
		hosts:   fs.String("push-hosts", "", "push services a subscription's endpoint may name (comma-separated; * any public host; default the major browsers')"),
		pageURL: fs.String("push-page-url", "", "the page a notification opens, with ?room= appended (default: the service worker's scope)"),
	}
}

// environment returns the function's environment variables the flags set,
// after checking the key pair as the function will.
func (f *pushFlags) environment() (map[string]string, error) {
	env := map[string]string{}
	if *f.keyFile != "" {
		b, err := os.ReadFile(*f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-vapid-key-file: %w", err)
		}
		keys, err := push.ParseVAPID(strings.TrimSpace(string(b)))
		if err == nil && *f.subject != "" {
			_, err = keys.WithSubject(*f.subject)
		}
		if err != nil {
			return nil, fmt.Errorf("-vapid-key-file %s: %w", *f.keyFile, err)
		}
		env["VAPID_SECRET"] = strings.TrimSpace(string(b))
	} else if *f.subject != "" {
		return nil, fmt.Errorf("-vapid-subject needs -vapid-key-file (go run ./cmd/vapid -subject %s > vapid.json)", *f.subject)
	}
	for name, v := range map[string]string{"VAPID_SUBJECT": *f.subject, "PUSH_HOSTS": *f.hosts, "PUSH_PAGE_URL": *f.pageURL} {
		if v != "" {
			env[name] = v
		}
	}
	return env, nil
}
