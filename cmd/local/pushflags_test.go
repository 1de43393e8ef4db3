package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestRunPush: the push flags reach the function as the template's
// parameters would: "connected" carries the key file's public key, and the
// banner says push is on, with the contact -vapid-subject set.
func TestRunPush(t *testing.T) {
	keys, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "vapid.json")
	if err := os.WriteFile(file, []byte(keys.Secret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := startRun(t, "-addr", "127.0.0.1:0", "-template", "../../template.yaml",
		"-vapid-key-file", file, "-vapid-subject", "https://example.com/contact")
	url := strings.TrimPrefix(stderr.waitLine(t, "ready: "), "ready: wscat -c ")
	if !strings.Contains(stderr.String(), "Web Push      on: VAPID key "+keys.PublicKey()+", contact https://example.com/contact") {
		t.Errorf("the banner does not say push is on with the key and contact:\n%s", stderr.String())
	}
	if c := testkit.Connect(t, url); c.VAPIDPublicKey != keys.PublicKey() {
		t.Errorf("connected carries vapidPublicKey %q, want the key file's", c.VAPIDPublicKey)
	}
}

func TestPushFlagsRefuse(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"current":"0123456789abcdef0123456789abcdef"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-vapid-subject", "mailto:ops@example.com"},
		{"-vapid-key-file", bad},
		{"-vapid-key-file", filepath.Join(t.TempDir(), "missing.json")},
	} {
		fs := flag.NewFlagSet("local", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := addPushFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if _, err := f.environment(); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
}
