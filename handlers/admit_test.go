package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

var (
	testSecret  = []byte(strings.Repeat("s", 32))
	otherSecret = []byte(strings.Repeat("o", 32))
)

// mint returns a token valid for ttl from now (ttl < 0: it expired -ttl
// ago).
func mint(t *testing.T, secret []byte, audience string, g auth.Grant, ttl time.Duration) string {
	t.Helper()
	issued := time.Now()
	if ttl < 0 {
		issued, ttl = issued.Add(ttl-time.Hour), time.Hour
	}
	tok, err := auth.Mint(secret, audience, g, ttl, issued)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestConnectAdmits: with tokens required, a handshake without a valid one
// is refused with 401 and writes nothing, and the log says why but never
// shows the token; with an Origin allow-list, a browser page of another
// origin is refused with 403. An admitted connection is stored with what
// its token allows.
func TestConnectAdmits(t *testing.T) {
	room := "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	valid := func(t *testing.T) string {
		return mint(t, testSecret, "slsrtc", auth.Grant{Name: "Alice", Rooms: []string{strings.ToUpper(room)}, Create: true}, time.Hour)
	}
	tests := []struct {
		name       string
		token      func(t *testing.T) string
		origin     string
		status     int
		wantReason string
	}{
		{"no token", func(*testing.T) string { return "" }, "", 401, "no token"},
		{"not a JWT", func(*testing.T) string { return "hello" }, "", 401, "not a well-formed JWT"},
		{"another secret", func(t *testing.T) string {
			return mint(t, otherSecret, "slsrtc", auth.Grant{}, time.Hour)
		}, "", 401, "signature"},
		{"expired", func(t *testing.T) string { return mint(t, testSecret, "slsrtc", auth.Grant{}, -time.Minute) }, "", 401, "expired"},
		{"another audience", func(t *testing.T) string {
			return mint(t, testSecret, "other", auth.Grant{}, time.Hour)
		}, "", 401, "not for this service"},
		{"another origin", valid, "https://evil.example", 403, "this origin may not connect"},
		{"valid, from the app", valid, "https://app.example.com", 200, ""},
		{"valid, no origin (not a browser)", valid, "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withConfig(func(c *handlers.Config) {
				c.AuthSecrets, c.AuthAudience = [][]byte{testSecret}, "slsrtc"
				c.AllowedOrigins = []string{"https://app.example.com"}
			}))
			token := tt.token(t)
			ev := h.event("$connect", "CONNECT", "A", "")
			ev.QueryStringParameters = map[string]string{"token": token}
			if tt.origin != "" {
				ev.Headers = map[string]string{"origin": tt.origin}
			}
			if resp := h.invoke(ev); resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			items := h.db.Items(t)
			if tt.status != 200 {
				if len(items) != 0 || len(h.invoker.Take()) != 0 {
					t.Errorf("a refused handshake wrote %d items or queued an event", len(items))
				}
				logs := h.logs.String()
				if !strings.Contains(logs, tt.wantReason) || (len(token) > 8 && strings.Contains(logs, token)) {
					t.Errorf("the log does not say %q, or shows the token:\n%s", tt.wantReason, logs)
				}
				return
			}
			c, err := h.store.Connection(t.Context(), "A")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := items[dynamotest.ConnectionKey("A")]["rooms"]; !ok || c.ID != "A" {
				t.Errorf("the grant's rooms are not stored: %v", items)
			}
			if _, err := h.store.CreateRoom(t.Context(), "A", 2); err != nil {
				t.Errorf("create, granted: %v", err)
			}
		})
	}
}

// TestTokenGrantIsEnforced: a connection's token decides which rooms it may
// enter, under which name, and whether it may create rooms; each refusal is
// a typed error frame and stores nothing.
func TestTokenGrantIsEnforced(t *testing.T) {
	h := newHarness(t, withConfig(func(c *handlers.Config) { c.AuthSecrets = [][]byte{testSecret} }))
	connect := func(id string, g auth.Grant) {
		t.Helper()
		ev := h.event("$connect", "CONNECT", id, "")
		ev.QueryStringParameters = map[string]string{"token": mint(t, testSecret, "slsrtc", g, time.Hour)}
		if resp := h.invoke(ev); resp.StatusCode != 200 {
			t.Fatalf("$connect %s: %d", id, resp.StatusCode)
		}
		h.invoker.Take()
	}
	connect("host", auth.Grant{Create: true})
	room := h.createRoom("host", 4)
	other := h.createRoom("host", 4)
	connect("guest", auth.Grant{Name: "Alice", Rooms: []string{room}})
	for _, tt := range []struct {
		name, body, want string
	}{
		{"create not granted", `{"action":"createroom"}`, `"code":"forbidden","message":"your token does not allow creating rooms"`},
		{"a room not granted", `{"action":"enterroom","roomID":"` + other + `","userName":"Alice"}`, `"code":"forbidden","message":"your token does not allow entering this room"`},
		{"another name", `{"action":"enterroom","roomID":"` + room + `","userName":"Bob"}`, `"code":"forbidden","message":"your token allows only the user name \"Alice\""`},
		{"no name", `{"action":"enterroom","roomID":"` + room + `"}`, `"code":"forbidden","message":"your token allows only the user name \"Alice\""`},
	} {
		before := h.db.Items(t)
		h.send("guest", tt.body)
		got := h.sender.Take("guest")
		if len(got) != 1 || !strings.Contains(got[0], tt.want) {
			t.Errorf("%s: guest got %q, want %s", tt.name, got, tt.want)
		}
		if len(h.db.Items(t)) != len(before) {
			t.Errorf("%s: the refusal stored something", tt.name)
		}
	}
	// The pinned name in another case is the same name.
	if resp := h.send("guest", `{"action":"enterroom","roomID":"`+room+`","userName":"alice"}`); resp.StatusCode != 200 {
		t.Errorf("enter under the pinned name: %d %q", resp.StatusCode, h.sender.Take("guest"))
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestRateLimitedFrames: refusals past a rate are rate-limited frames with
// retryAfterMs; a connection that keeps sending is told, then closed.
func TestRateLimitedFrames(t *testing.T) {
	h := newHarness(t, withLimits(dynamo.Limits{
		RoomsPerConnection: 1, Moves: dynamo.Rate{N: 2, Per: time.Hour},
		Messages: dynamo.Rate{N: 2, Per: time.Hour}, AbuseAfter: 2,
	}))
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 4)
	if got := h.send("A", `{"action":"createroom"}`); got.StatusCode != 403 {
		t.Errorf("second room: status %d, want 403 (limit-reached)", got.StatusCode)
	}
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"code":"limit-reached"`) {
		t.Errorf("A got %q, want limit-reached", got)
	}
	h.enter("A", room, "")
	h.enter("B", room, "")
	if resp := h.send("A", `{"action":"leaveroom"}`); resp.StatusCode != 200 {
		t.Fatalf("leave: %d", resp.StatusCode)
	}
	h.sender.Reset()
	if resp := h.send("A", `{"action":"enterroom","roomID":"`+room+`"}`); resp.StatusCode != 429 {
		t.Errorf("third move: status %d, want 429", resp.StatusCode)
	}
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"code":"rate-limited"`) || !strings.Contains(got[0], `"retryAfterMs":`) {
		t.Errorf("A got %q, want rate-limited with retryAfterMs", got)
	}
	relay := `{"action":"message","dest":"A","type":"offer","message":"x"}`
	h.send("B", relay)
	h.send("B", `{"action":"message","dest":"B","type":"offer","message":"x"}`)
	h.sender.Reset()
	for i, want := range []int{429, 429} {
		if resp := h.send("B", relay); resp.StatusCode != want {
			t.Errorf("message %d past the rate: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	got := h.sender.Take("B")
	if len(got) != 2 || !strings.Contains(got[1], "closed") || h.sender.Closed()[0] != "B" {
		t.Errorf("B got %q and was closed: %v; want two rate-limited frames, the last saying it is closed", got, h.sender.Closed())
	}
	if !strings.Contains(h.logs.String(), "closing a connection that kept sending past its rate") {
		t.Errorf("the closing is not logged:\n%s", h.logs.String())
	}
}
