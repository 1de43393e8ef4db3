package turn_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/test/testkit"
	"github.com/slsrtc/slsrtc/turn"
)

var (
	current  = []byte("current-secret-0123456789abcdefghijklmnop")
	previous = []byte("previous-secret-0123456789abcdefghijklmno")
	now      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func mustURLs(t *testing.T, ss ...string) []turn.URL {
	t.Helper()
	var urls []turn.URL
	for _, s := range ss {
		u, err := turn.ParseURL(s)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, u)
	}
	return urls
}

// TestCredentialKnownAnswers: the username and credential ICEServers issues
// are those of testdata/credentials.json, computed with openssl and Python.
func TestCredentialKnownAnswers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Vectors []struct {
			Name, Secret, ParticipantID, Username, Credential string
			Now                                               time.Time
			TTLSeconds                                        int
		}
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatal(err)
	}
	if len(fixture.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range fixture.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			c := turn.Config{
				TURN:    mustURLs(t, "turn:turn.example.com"),
				TTL:     time.Duration(v.TTLSeconds) * time.Second,
				Secrets: [][]byte{[]byte(v.Secret), previous},
			}
			servers, ttl, err := c.ICEServers(v.ParticipantID, v.Now)
			if err != nil {
				t.Fatal(err)
			}
			if len(servers) != 1 {
				t.Fatalf("ICEServers = %+v, want one TURN server", servers)
			}
			if got := servers[0]; got.Username != v.Username || got.Credential != v.Credential {
				t.Errorf("username %q credential %q, want %q %q", got.Username, got.Credential, v.Username, v.Credential)
			}
			if ttl != c.TTL {
				t.Errorf("TTL %v, want %v", ttl, c.TTL)
			}
		})
	}
}

// TestICEServersJSON: the list marshals to RTCIceServer JSON exactly
// (testdata/ice-servers/*.json), and pion reads it as such, URLs and all.
func TestICEServersJSON(t *testing.T) {
	stun := mustURLs(t, "stun:turn.example.com:3478")
	turns := mustURLs(t, "turn:turn.example.com:3478?transport=udp", "turn:turn.example.com:3478?transport=tcp",
		"turns:turn.example.com:443?transport=tcp")
	for _, tc := range []struct {
		name    string
		c       turn.Config
		wantTTL time.Duration
	}{
		{"stun-and-turn", turn.Config{STUN: stun, TURN: turns, TTL: time.Hour, Secrets: [][]byte{current, previous}}, time.Hour},
		{"turn-only", turn.Config{TURN: turns, TTL: 10 * time.Minute, Secrets: [][]byte{current}}, 10 * time.Minute},
		{"stun-only", turn.Config{STUN: stun, TTL: time.Hour}, 0},
		{"none", turn.Config{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers, ttl, err := tc.c.ICEServers("L0SM9cOFvHcCIhw=", now)
			if err != nil {
				t.Fatal(err)
			}
			if ttl != tc.wantTTL {
				t.Errorf("TTL %v, want %v", ttl, tc.wantTTL)
			}
			if got, want := tc.c.HasTURN(), tc.wantTTL > 0; got != want {
				t.Errorf("HasTURN() = %v, want %v", got, want)
			}
			got, err := json.Marshal(servers)
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, filepath.Join("testdata", "ice-servers", tc.name+".json"), append(got, '\n'))

			var pion []webrtc.ICEServer
			if err := json.Unmarshal(got, &pion); err != nil {
				t.Fatalf("pion cannot read %s: %v", got, err)
			}
			for _, s := range pion {
				if err := pionValidate(s); err != nil {
					t.Errorf("pion refuses %+v: %v", s, err)
				}
			}
		})
	}
}

// pionValidate has pion check an ICE server as NewPeerConnection does.
func pionValidate(s webrtc.ICEServer) error {
	api := webrtc.NewAPI()
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: []webrtc.ICEServer{s}})
	if err != nil {
		return err
	}
	return pc.Close()
}

// TestICEServersUsername: the username is the expiry (now's second plus the
// TTL) and the participant ID; the credential is signed with the current
// secret only.
func TestICEServersUsername(t *testing.T) {
	c := turn.Config{TURN: mustURLs(t, "turn:turn.example.com"), TTL: 90 * time.Second, Secrets: [][]byte{current, previous}}
	at := now.Add(999 * time.Millisecond)
	servers, _, err := c.ICEServers("p:1", at)
	if err != nil {
		t.Fatal(err)
	}
	want := "1772366490:p:1" // 2026-03-01T12:00:00Z is 1772366400
	if got := servers[0].Username; got != want {
		t.Errorf("username %q, want %q", got, want)
	}
	signedWithPrevious, _, _ := turn.Config{TURN: c.TURN, TTL: c.TTL, Secrets: [][]byte{previous}}.ICEServers("p:1", at)
	if servers[0].Credential == signedWithPrevious[0].Credential {
		t.Error("the credential is the same whichever secret signs it")
	}
	again, _, _ := c.ICEServers("p:1", at)
	if !reflect.DeepEqual(servers, again) {
		t.Errorf("ICEServers is not a function of its arguments: %+v then %+v", servers, again)
	}
}

func TestICEServersRefuses(t *testing.T) {
	valid := turn.Config{TURN: mustURLs(t, "turn:turn.example.com"), TTL: time.Hour, Secrets: [][]byte{current}}
	for _, tc := range []struct {
		name        string
		c           turn.Config
		participant string
		is          error // errors.Is, or nil for any error
	}{
		{"empty participant", valid, "", turn.ErrParticipantID},
		{"participant with a space", valid, "a b", turn.ErrParticipantID},
		{"participant with a control character", valid, "a\x00b", turn.ErrParticipantID},
		{"participant not ASCII", valid, "é", turn.ErrParticipantID},
		{"participant too long", valid, strings.Repeat("a", turn.MaxParticipantIDLength+1), turn.ErrParticipantID},
		{"participant invalid without TURN", turn.Config{}, "", turn.ErrParticipantID},
		{"TURN without a secret", turn.Config{TURN: valid.TURN, TTL: time.Hour}, "p", nil},
		{"TURN with an empty secret", turn.Config{TURN: valid.TURN, TTL: time.Hour, Secrets: [][]byte{{}}}, "p", nil},
		{"TURN without a TTL", turn.Config{TURN: valid.TURN, Secrets: valid.Secrets}, "p", nil},
		{"TTL below the minimum", turn.Config{TURN: valid.TURN, TTL: turn.MinTTL - time.Second, Secrets: valid.Secrets}, "p", nil},
		{"TTL above the maximum", turn.Config{TURN: valid.TURN, TTL: turn.MaxTTL + time.Second, Secrets: valid.Secrets}, "p", nil},
		{"TTL with a fraction of a second", turn.Config{TURN: valid.TURN, TTL: time.Hour + time.Millisecond, Secrets: valid.Secrets}, "p", nil},
		{"a STUN URL among the TURN URLs", turn.Config{TURN: mustURLs(t, "stun:x.example"), TTL: time.Hour, Secrets: valid.Secrets}, "p", nil},
		{"a TURN URL among the STUN URLs", turn.Config{STUN: mustURLs(t, "turn:x.example")}, "p", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			servers, _, err := tc.c.ICEServers(tc.participant, now)
			if err == nil {
				t.Fatalf("ICEServers = %+v, want an error", servers)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("ICEServers: %v, want %v", err, tc.is)
			}
		})
	}
	if _, _, err := valid.ICEServers(strings.Repeat("~", turn.MaxParticipantIDLength), now); err != nil {
		t.Errorf("the longest participant ID: %v", err)
	}
}
