package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
)

var (
	issued = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secret = "token-test-secret-0123456789abcdef"
	old    = "token-test-previous-0123456789abcd"
)

const (
	room1 = "a118fd6a-2e9a-4cc1-bc01-ec0833251e78"
	room2 = "00000000-0000-4000-8000-000000000002"
)

// stopClock makes run issue its tokens at issued.
func stopClock(t *testing.T) {
	t.Helper()
	clock = func() time.Time { return issued }
	t.Cleanup(func() { clock = time.Now })
}

// writeFile writes content to a file in a test directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runToken runs the command with args and returns its exit code and output.
func runToken(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMints(t *testing.T) {
	stopClock(t)
	t.Setenv("SLSRTC_TOKEN_SECRET", secret)
	t.Setenv("SLSRTC_SECRET_STRING", `{"current":"`+secret+`","previous":"`+old+`"}`)
	exp := issued.Add(time.Hour)
	for _, tc := range []struct {
		name string
		args []string
		aud  string
		want auth.Grant
	}{
		{"secret from a file, defaults", []string{"-secret-file", writeFile(t, secret+"\n")}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"secret file with CRLF", []string{"-secret-file", writeFile(t, secret+"\r\n")}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"secret file without a newline", []string{"-secret-file", writeFile(t, secret)}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"SecretString JSON file: signs with current", []string{"-secret-file", writeFile(t, `{"current":"`+secret+`","previous":"`+old+`"}`+"\n")}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"secret from the environment", []string{"-secret-env", "SLSRTC_TOKEN_SECRET"}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"SecretString from the environment", []string{"-secret-env", "SLSRTC_SECRET_STRING"}, "slsrtc",
			auth.Grant{ExpiresAt: exp}},
		{"every claim", []string{
			"-secret-env", "SLSRTC_TOKEN_SECRET", "-aud", "slsrtc", "-name", "alice", "-room", room1, "-room", room2,
			"-create", "-ttl", "1h", "-sub", "someone",
		}, "slsrtc", auth.Grant{Subject: "someone", Name: "alice", Rooms: []string{room1, room2}, Create: true, ExpiresAt: exp}},
		{"another audience and ttl", []string{"-secret-env", "SLSRTC_TOKEN_SECRET", "-aud", "staging", "-ttl", "10m"}, "staging",
			auth.Grant{ExpiresAt: issued.Add(10 * time.Minute)}},
		{"flags with = and double dashes", []string{"--secret-env=SLSRTC_TOKEN_SECRET", "--create=true", "--room=" + room1}, "slsrtc",
			auth.Grant{Rooms: []string{room1}, Create: true, ExpiresAt: exp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runToken(t, tc.args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			token, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.ContainsAny(token, " \n") {
				t.Fatalf("stdout = %q, want one token and a newline", stdout)
			}
			v, err := auth.NewVerifier(tc.aud, []byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			v.Now = func() time.Time { return issued.Add(time.Minute) }
			g, err := v.Verify(token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !g.ExpiresAt.Equal(tc.want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", g.ExpiresAt, tc.want.ExpiresAt)
			}
			g.ExpiresAt, tc.want.ExpiresAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("grant = %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestRefuses(t *testing.T) {
	stopClock(t)
	short := secret[:auth.MinSecretLength-1]
	t.Setenv("SLSRTC_TOKEN_SECRET", secret)
	t.Setenv("SLSRTC_SHORT_SECRET", short)
	t.Setenv("SLSRTC_EMPTY_SECRET", "")
	env := []string{"-secret-env", "SLSRTC_TOKEN_SECRET"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of what stderr must say
	}{
		{"no secret", nil, 2, "exactly one of -secret-file and -secret-env"},
		{"both secrets", []string{"-secret-env", "SLSRTC_TOKEN_SECRET", "-secret-file", writeFile(t, secret)}, 2, "exactly one"},
		{"unknown flag", append(env, "-secret", secret), 2, "flag provided but not defined: -secret"},
		{"an argument", append(env, "alice"), 2, `unexpected argument "alice"`},
		{"bad ttl", append(env, "-ttl", "an hour"), 2, "invalid value"},
		{"empty room", append(env, "-room", ""), 2, "empty room ID"},
		{"short secret in a file", []string{"-secret-file", writeFile(t, short+"\n")}, 1, "shorter than 32 bytes"},
		{"short secret in the environment", []string{"-secret-env", "SLSRTC_SHORT_SECRET"}, 1, "shorter than 32 bytes"},
		{"short current in a SecretString", []string{"-secret-file", writeFile(t, `{"current":"`+short+`"}`)}, 1, "shorter than 32 bytes"},
		{"SecretString with a typo", []string{"-secret-file", writeFile(t, `{"curent":"`+secret+`"}`)}, 1, `other than "current"`},
		{"empty secret variable", []string{"-secret-env", "SLSRTC_EMPTY_SECRET"}, 1, "shorter than 32 bytes"},
		{"unset variable", []string{"-secret-env", "SLSRTC_NO_SUCH_VARIABLE"}, 1, "SLSRTC_NO_SUCH_VARIABLE is not set"},
		{"missing file", []string{"-secret-file", filepath.Join(t.TempDir(), "none")}, 1, "no such file"},
		{"zero ttl", append(env, "-ttl", "0s"), 1, "ttl is under one second"},
		{"negative ttl", append(env, "-ttl", "-1h"), 1, "ttl is under one second"},
		{"empty audience", append(env, "-aud", ""), 1, "no audience"},
		{"confusable name", append(env, "-name", "Аlice"), 1, "mixes letters of different scripts"},
		{"name with a control character", append(env, "-name", "alice\x00"), 1, "U+0000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runToken(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr = %q, want it to say %q", stderr, tc.stderr)
			}
			if strings.Contains(stderr, short[8:]) {
				t.Errorf("stderr %q quotes the secret", stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		code, stdout, stderr := runToken(t, arg)
		if code != 0 || stdout != "" {
			t.Errorf("token %s: exit %d, stdout %q; want 0 and nothing", arg, code, stdout)
		}
		for _, want := range []string{
			"usage: token", "-secret-file", "-secret-env", "-aud", "-name", "-room", "-create", "-ttl", "-sub",
			"?token=", "current", "at least 32", `(default "slsrtc")`, "(default 1h0m0s)",
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("token %s does not mention %q:\n%s", arg, want, stderr)
			}
		}
	}
}
