package handlers_test

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/turn"
)

func TestLoadConfig(t *testing.T) {
	base := map[string]string{"TABLE_NAME": "t", "CONNECTIONS_URL": "https://x.execute-api.us-east-1.amazonaws.com/slsrtc"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c handlers.Config)
		wantErr string
	}{
		{name: "defaults", env: with(), check: func(t *testing.T, c handlers.Config) {
			if len(c.ICE.STUN) > 0 || c.ICE.HasTURN() {
				t.Errorf("ICE servers by default: %+v", c.ICE)
			}
			if c.Push.VAPID != nil || !reflect.DeepEqual(c.Push.Policy(), push.Policy{Hosts: push.KnownServices}) || c.Push.PageURL != "" {
				t.Errorf("push by default: %+v, want off, the known push services", c.Push)
			}
			if c.DefaultCapacity != 8 || c.MaxCapacity != 50 || c.FanOutConcurrency != 16 || c.MetricsNamespace != "slsrtc" || c.LogLevel != slog.LevelInfo ||
				c.Limits != (handlers.Limits{RoomsPerConnection: 10, MovesPerMinute: 30, MessagesPerSecond: 20,
					SubscriptionsPerRoom: 10, SubscribesPerConnection: 5, NotifyEvery: time.Minute}) ||
				c.ResumeGrace != 30*time.Second || c.MaxConnectionDuration != 2*time.Hour || c.IdleTimeout != 10*time.Minute {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "everything set", env: with("DEFAULT_ROOM_CAPACITY", "2", "MAX_ROOM_CAPACITY", "4", "FANOUT_CONCURRENCY", "32",
			"METRICS_NAMESPACE", "ns", "AWS_LAMBDA_LOG_LEVEL", "DEBUG", "AWS_LAMBDA_FUNCTION_NAME", "fn",
			"MAX_ROOMS_PER_CONNECTION", "3", "ENTERS_PER_MINUTE", "6", "MESSAGES_PER_SECOND", "5",
			"RESUME_GRACE_SECONDS", "45", "MAX_CONNECTION_SECONDS", "3600", "IDLE_TIMEOUT_SECONDS", "300",
			"STUN_URLS", "stun:turn.example.com", "TURN_URLS", "turn:turn.example.com?transport=udp", "TURN_TTL", "600",
			"TURN_SECRETS", `{"current":"0123456789abcdef0123456789abcdef"}`),
			check: func(t *testing.T, c handlers.Config) {
				ice, err := turn.ParseConfig(turn.Settings{STUNURLs: "stun:turn.example.com", TURNURLs: "turn:turn.example.com?transport=udp",
					TTL: "600", Secrets: `{"current":"0123456789abcdef0123456789abcdef"}`})
				if err != nil {
					t.Fatal(err)
				}
				want := handlers.Config{ICE: ice, TableName: "t", ConnectionsURL: base["CONNECTIONS_URL"], FunctionName: "fn",
					DefaultCapacity: 2, MaxCapacity: 4, FanOutConcurrency: 32, MetricsNamespace: "ns", LogLevel: slog.LevelDebug, AuthAudience: "slsrtc",
					Limits: handlers.Limits{RoomsPerConnection: 3, MovesPerMinute: 6, MessagesPerSecond: 5,
						SubscriptionsPerRoom: 10, SubscribesPerConnection: 5, NotifyEvery: time.Minute},
					Push:        handlers.PushConfig{Hosts: push.KnownServices},
					ResumeGrace: 45 * time.Second, MaxConnectionDuration: time.Hour, IdleTimeout: 5 * time.Minute}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("config = %+v, want %+v", c, want)
				}
			}},
		{name: "resume off", env: with("RESUME_GRACE_SECONDS", "0"), check: func(t *testing.T, c handlers.Config) {
			if c.ResumeGrace != 0 {
				t.Errorf("ResumeGrace = %v, want 0 (off)", c.ResumeGrace)
			}
		}},
		{name: "push", env: with("VAPID_SECRET", testVAPID.Secret(), "VAPID_SUBJECT", "https://example.com/contact",
			"PUSH_HOSTS", "fcm.googleapis.com, Push.Services.Mozilla.com", "PUSH_PAGE_URL", "https://app.example.com/"),
			check: func(t *testing.T, c handlers.Config) {
				if c.Push.VAPID == nil || c.Push.VAPID.PublicKey() != testVAPID.PublicKey() || c.Push.VAPID.Subject() != "https://example.com/contact" ||
					!reflect.DeepEqual(c.Push.Policy(), push.Policy{Hosts: []string{"fcm.googleapis.com", "push.services.mozilla.com"}}) ||
					c.Push.PageURL != "https://app.example.com/" {
					t.Errorf("push = %+v", c.Push)
				}
			}},
		{name: "push to any host", env: with("PUSH_HOSTS", "*"), check: func(t *testing.T, c handlers.Config) {
			if !reflect.DeepEqual(c.Push.Policy(), push.Policy{}) {
				t.Errorf("policy = %+v, want any host", c.Push.Policy())
			}
		}},
		{name: "bad VAPID secret", env: with("VAPID_SECRET", `{"publicKey":"x"}`), wantErr: "VAPID_SECRET: "},
		{name: "VAPID subject alone", env: with("VAPID_SUBJECT", "mailto:ops@example.com"), wantErr: "VAPID_SUBJECT needs VAPID_SECRET"},
		{name: "local VAPID subject", env: with("VAPID_SECRET", testVAPID.Secret(), "VAPID_SUBJECT", "mailto:me@localhost"), wantErr: "VAPID_SECRET: "},
		{name: "any host and a list", env: with("PUSH_HOSTS", "*,fcm.googleapis.com"), wantErr: "PUSH_HOSTS"},
		{name: "page URL with a query", env: with("PUSH_PAGE_URL", "https://app.example.com/?x=1"), wantErr: "PUSH_PAGE_URL"},
		{name: "TURN without a secret", env: with("TURN_URLS", "turn:turn.example.com"), wantErr: "TURN_SECRETS"},
		{name: "grace too long", env: with("RESUME_GRACE_SECONDS", "601"), wantErr: `RESUME_GRACE_SECONDS must be an integer from 0 to 600, not "601"`},
		{name: "missing required", env: map[string]string{}, wantErr: "TABLE_NAME is required; CONNECTIONS_URL is required"},
		{name: "bad number", env: with("MAX_ROOM_CAPACITY", "many"), wantErr: `MAX_ROOM_CAPACITY must be an integer from 1 to 1000, not "many"`},
		{name: "default above max", env: with("DEFAULT_ROOM_CAPACITY", "9", "MAX_ROOM_CAPACITY", "4"), wantErr: "DEFAULT_ROOM_CAPACITY (9) exceeds MAX_ROOM_CAPACITY (4)"},
		{name: "auth", env: with("AUTH_SECRETS", `{"current":"`+strings.Repeat("k", 32)+`","previous":"`+strings.Repeat("p", 32)+`"}`,
			"AUTH_AUDIENCE", "calls", "ALLOWED_ORIGINS", "https://app.example.com, http://localhost:8080/"),
			check: func(t *testing.T, c handlers.Config) {
				if len(c.AuthSecrets) != 2 || string(c.AuthSecrets[0]) != strings.Repeat("k", 32) || c.AuthAudience != "calls" ||
					!reflect.DeepEqual(c.AllowedOrigins, []string{"https://app.example.com", "http://localhost:8080"}) {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "no auth", env: with(), check: func(t *testing.T, c handlers.Config) {
			if c.AuthSecrets != nil || c.AuthAudience != "slsrtc" || c.AllowedOrigins != nil {
				t.Errorf("config = %+v, want no auth, audience slsrtc, any origin", c)
			}
		}},
		{name: "short secret", env: with("AUTH_SECRETS", `{"current":"short"}`), wantErr: "AUTH_SECRETS: "},
		{name: "not an origin", env: with("ALLOWED_ORIGINS", "app.example.com"), wantErr: `ALLOWED_ORIGINS: "app.example.com" is not an origin`},
		{name: "bad limit", env: with("MESSAGES_PER_SECOND", "0"), wantErr: `MESSAGES_PER_SECOND must be an integer from 1 to 100000, not "0"`},
		{name: "bad log level", env: with("AWS_LAMBDA_LOG_LEVEL", "LOUD"), wantErr: `AWS_LAMBDA_LOG_LEVEL "LOUD"`},
		// Lambda drops ERROR lines at FATAL; the level must say so.
		{name: "fatal is above error", env: with("AWS_LAMBDA_LOG_LEVEL", "fatal"), check: func(t *testing.T, c handlers.Config) {
			if c.LogLevel <= slog.LevelError {
				t.Errorf("FATAL = %v, want above ERROR", c.LogLevel)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := handlers.LoadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// testVAPID is a VAPID identity for tests.
var testVAPID = func() *push.VAPID {
	v, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		panic(err)
	}
	return v
}()
