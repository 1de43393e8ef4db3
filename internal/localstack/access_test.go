package localstack_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// accessSecret is the secret of the access tests' stack.
var accessSecret = []byte(strings.Repeat("k", 32))

// accessStack starts a stack that requires tokens, lets pages of one origin
// connect, and has small limits.
func accessStack(t *testing.T) *testStack {
	t.Helper()
	env := map[string]string{
		"AUTH_SECRETS": `{"current":"` + string(accessSecret) + `"}`, "AUTH_AUDIENCE": "calls",
		"ALLOWED_ORIGINS": "https://app.example.com", "MAX_ROOMS_PER_CONNECTION": "1",
		"ENTERS_PER_MINUTE": "100", "MESSAGES_PER_SECOND": "1",
	}
	return newStack(t, func(o *localstack.Options) { o.Getenv = func(k string) string { return env[k] } })
}

func token(t *testing.T, secret []byte, audience string, g auth.Grant, issued time.Time) string {
	t.Helper()
	tok, err := auth.Mint(secret, audience, g, time.Hour, issued)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestHandshakeRefusals: through the local stack with a real WebSocket
// client, every handshake refusal gets its HTTP status and stores nothing.
func TestHandshakeRefusals(t *testing.T) {
	s := accessStack(t)
	now := time.Now()
	valid := token(t, accessSecret, "calls", auth.Grant{}, now)
	tests := []struct {
		name, query, origin string
		status              string // in the dial error; "" means admitted
	}{
		{"no token", "", "", "401"},
		{"not a token", "?token=nonsense", "", "401"},
		{"bad signature", "?token=" + token(t, []byte(strings.Repeat("x", 32)), "calls", auth.Grant{}, now), "", "401"},
		{"expired", "?token=" + token(t, accessSecret, "calls", auth.Grant{}, now.Add(-2*time.Hour)), "", "401"},
		{"wrong audience", "?token=" + token(t, accessSecret, "other", auth.Grant{}, now), "", "401"},
		{"another origin", "?token=" + valid, "https://evil.example", "403"},
		{"the allowed origin", "?token=" + valid, "https://app.example.com", ""},
		{"no origin (not a browser)", "?token=" + valid, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.items(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			header := http.Header{}
			if tt.origin != "" {
				header.Set("Origin", tt.origin)
			}
			c, err := testkit.DialHeader(ctx, s.WebSocketURL+tt.query, header)
			if tt.status == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.status) {
				_ = c.Close()
				t.Fatalf("dial error %v, want status %s", err, tt.status)
			}
			if after := s.items(t); !reflect.DeepEqual(after, before) {
				t.Errorf("a refused handshake changed the table")
			}
		})
	}
	if logs := s.logs.String(); strings.Contains(logs, valid) {
		t.Error("a token is in the function's logs")
	}
}

// TestAccessRefusals: a connected client that tries what its token or its
// limits do not allow gets a typed error, and the table is unchanged (but
// for its rate counters).
func TestAccessRefusals(t *testing.T) {
	s := accessStack(t)
	now := time.Now()
	connect := func(g auth.Grant) *testkit.Client {
		return testkit.Connect(t, s.WebSocketURL+"?token="+token(t, accessSecret, "calls", g, now))
	}
	host := connect(auth.Grant{Create: true})
	host.MustSend(t, `{"action":"createroom"}`)
	room := host.Expect(t, "room-created").Body
	host.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"host"}`)
	host.Expect(t, "room-members")
	guest := connect(auth.Grant{Name: "Alice", Rooms: []string{room}})
	anyone := connect(auth.Grant{})
	other := "00000000-0000-4000-8000-000000000001"
	tests := []struct {
		name   string
		from   *testkit.Client
		body   string
		code   string
		detail string
	}{
		{"create not allowed", guest, `{"action":"createroom"}`, "forbidden", "creating rooms"},
		{"rooms per connection", host, `{"action":"createroom"}`, "limit-reached", "as many rooms"},
		{"a room not allowed", guest, `{"action":"enterroom","roomID":"` + other + `","userName":"Alice"}`, "forbidden", "this room"},
		{"a name not allowed", guest, `{"action":"enterroom","roomID":"` + room + `","userName":"Mallory"}`, "forbidden", `"Alice"`},
		{"a name that differs only in case", anyone, `{"action":"enterroom","roomID":"` + room + `","userName":"HOST"}`, "name-taken", "user name is taken"},
		{"a look-alike name (Cyrillic о)", anyone, `{"action":"enterroom","roomID":"` + room + `","userName":"h\u043est"}`, "invalid-message", "userName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.items(t)
			tt.from.MustSend(t, tt.body)
			f := tt.from.Expect(t, "error")
			if f.Code != tt.code || !strings.Contains(f.Message, tt.detail) {
				t.Errorf("error %s, want code %s about %q", f.Raw, tt.code, tt.detail)
			}
			if after := s.items(t); !reflect.DeepEqual(after, before) {
				t.Errorf("the refusal changed the table")
			}
		})
	}
	t.Run("messages past the rate", func(t *testing.T) {
		guest.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"alice"}`)
		guest.Expect(t, "room-members")
		// One message at a time, each waited for: relayed (the host gets
		// it) or refused (the guest gets an error). 1 message per second in
		// 10-second windows: 10 pass, then refusals (a window may turn in
		// the middle: at most 20 pass); as many refusals again close the
		// connection.
		relay := `{"action":"message","dest":"` + host.ID + `","type":"offer","message":"x"}`
		var relayed, limited int
		var closed bool
		for i := 0; i < 40 && !closed; i++ {
			guest.MustSend(t, relay)
			f, err := outcome(host, guest)
			switch {
			case err != nil:
				t.Fatalf("message %d: %v", i+1, err)
			case f.Type == "offer":
				relayed++
			case f.Code == "rate-limited" && strings.Contains(f.Message, "is closed"):
				closed = true
			case f.Code == "rate-limited" && strings.Contains(string(f.Raw), `"retryAfterMs":`):
				limited++
			default:
				t.Fatalf("message %d: %s", i+1, f.Raw)
			}
		}
		if relayed < 10 || relayed > 20 || limited < 9 || !closed {
			t.Errorf("%d relayed, %d refused with retryAfterMs, closed %v; want 10 to 20, 9 and more, then closed", relayed, limited, closed)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := guest.Wait(ctx); ctx.Err() != nil {
			t.Errorf("the flooding connection is still open: %v", err)
		}
	})
}

// outcome waits for what a relay from guest to host led to: the host's
// offer, or the guest's error.
func outcome(host, guest *testkit.Client) (testkit.Frame, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, w := range []struct {
			c   *testkit.Client
			typ string
		}{{host, "offer"}, {guest, "error"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			f, err := w.c.Next(ctx, func(f testkit.Frame) bool { return f.Type == w.typ })
			cancel()
			if err == nil {
				return f, nil
			}
		}
	}
	return testkit.Frame{}, context.DeadlineExceeded
}
