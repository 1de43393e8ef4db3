package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
)

// runVAPID runs the command with args and returns its exit code and output.
func runVAPID(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vapid.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerates(t *testing.T) {
	for _, subject := range []string{"mailto:ops@example.com", "https://slsrtc.example.com/contact"} {
		t.Run(subject, func(t *testing.T) {
			code, stdout, stderr := runVAPID(t, "-subject", subject)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			line, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(line, "\n") {
				t.Fatalf("stdout = %q, want one line of JSON", stdout)
			}
			var fields map[string]string
			if err := json.Unmarshal([]byte(line), &fields); err != nil || len(fields) != 3 {
				t.Fatalf("stdout %q is not an object of three strings: %v", line, err)
			}
			v, err := push.ParseVAPID(line)
			if err != nil {
				t.Fatalf("ParseVAPID(stdout): %v", err)
			}
			if v.Subject() != subject || fields["publicKey"] != v.PublicKey() {
				t.Errorf("secret %v, want subject %s", v, subject)
			}
			if stderr != "applicationServerKey (public): "+v.PublicKey()+"\n" {
				t.Errorf("stderr = %q, want the public key", stderr)
			}
			if strings.Contains(stderr, fields["privateKey"]) {
				t.Error("stderr has the private key")
			}

			// -public reads it back, from a file and from the environment.
			t.Setenv("SLSRTC_VAPID", line)
			for _, args := range [][]string{
				{"-public", "-secret-file", writeFile(t, stdout)},
				{"-public", "-secret-env", "SLSRTC_VAPID"},
			} {
				code, out, errOut := runVAPID(t, args...)
				if code != 0 || out != v.PublicKey()+"\n" || errOut != "" {
					t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and the public key", args, code, out, errOut)
				}
			}
		})
	}
	_, a, _ := runVAPID(t, "-subject", "mailto:ops@example.com")
	_, b, _ := runVAPID(t, "-subject", "mailto:ops@example.com")
	if a == b {
		t.Error("two runs made the same key pair")
	}
}

func TestRefuses(t *testing.T) {
	other, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	v, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var mixed map[string]string
	json.Unmarshal([]byte(v.Secret()), &mixed)
	private := mixed["privateKey"]
	json.Unmarshal([]byte(other.Secret()), &mixed)
	mixed["privateKey"] = private
	mismatched, _ := json.Marshal(mixed)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no flags", nil, 2, "give -subject"},
		{"a bare address", []string{"-subject", "ops@example.com"}, 1, "not a mailto: or https: contact"},
		{"http", []string{"-subject", "http://example.com"}, 1, "not a mailto: or https: contact"},
		{"an argument", []string{"-subject", "mailto:ops@example.com", "extra"}, 2, "unexpected argument"},
		{"an unknown flag", []string{"-private"}, 2, "flag provided but not defined"},
		{"-public without a secret", []string{"-public"}, 2, "exactly one of"},
		{"-public with both", []string{"-public", "-secret-file", "x", "-secret-env", "Y"}, 2, "exactly one of"},
		{"-public with -subject", []string{"-public", "-subject", "mailto:ops@example.com", "-secret-env", "Y"}, 2, "no -subject"},
		{"-secret-file without -public", []string{"-subject", "mailto:ops@example.com", "-secret-file", "x"}, 2, "go with -public"},
		{"a missing file", []string{"-public", "-secret-file", filepath.Join(t.TempDir(), "none")}, 1, "secret file"},
		{"an unset variable", []string{"-public", "-secret-env", "SLSRTC_VAPID_UNSET"}, 1, "is not set"},
		{"keys of two pairs", []string{"-public", "-secret-file", writeFile(t, string(mismatched))}, 1, "does not match"},
		{"not JSON", []string{"-public", "-secret-file", writeFile(t, private)}, 1, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runVAPID(t, tc.args...)
			if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, and %q", code, stdout, stderr, tc.code, tc.stderr)
			}
			if strings.Contains(stderr, private) {
				t.Errorf("stderr %q quotes the private key", stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, stdout, stderr := runVAPID(t, "-h")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "usage: vapid") || !strings.Contains(stderr, "-secret-env") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
