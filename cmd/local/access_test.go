package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestRunAccess starts the command as a stack that requires tokens from
// one page origin, and checks that the flags reach the function: the
// banner says tokens are required, a handshake without a token gets 401,
// one from another page gets 403, and a token minted with the file's
// secret connects, without the right to create rooms the token does not
// give.
func TestRunAccess(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef-local")
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := startRun(t, "-addr", "127.0.0.1:0", "-template", "../../template.yaml",
		"-auth-secret-file", file, "-auth-audience", "demo", "-allowed-origins", "https://app.example")
	tokens := stderr.waitLine(t, "  Tokens ")
	if !strings.Contains(tokens, `audience "demo"`) {
		t.Errorf("banner line %q does not name the audience", tokens)
	}
	url := strings.TrimPrefix(stderr.waitLine(t, "ready: "), "ready: wscat -c ")

	dctx, dcancel := context.WithTimeout(context.Background(), wait)
	defer dcancel()
	fromApp := http.Header{"Origin": {"https://app.example"}}
	token, err := auth.Mint(secret, "demo", auth.Grant{Name: "alice"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		header      http.Header
		status      string
	}{
		{"no token", "", fromApp, "got 401"},
		{"token from another page", "?token=" + token, http.Header{"Origin": {"https://evil.example"}}, "got 403"},
	} {
		if c, err := testkit.DialHeader(dctx, url+tc.query, tc.header); err == nil || !strings.Contains(err.Error(), tc.status) {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s: dial error %v, want the handshake refused (%s)", tc.name, err, tc.status)
		}
	}

	c, err := testkit.DialHeader(dctx, url+"?token="+token, fromApp)
	if err != nil {
		t.Fatalf("a valid token from the allowed page: %v", err)
	}
	defer c.Close()
	c.MustSend(t, `{"action":"createroom"}`)
	if f := c.Expect(t, "error"); f.Code != "forbidden" {
		t.Errorf("createroom with a token that does not allow it: %+v, want code forbidden", f)
	}
}
