package handlers_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/handlers"
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
			if c.DefaultCapacity != 8 || c.MaxCapacity != 50 || c.FanOutConcurrency != 16 || c.MetricsNamespace != "slsrtc" || c.LogLevel != slog.LevelInfo ||
				c.Limits != (handlers.Limits{RoomsPerConnection: 10, MovesPerMinute: 30, MessagesPerSecond: 20}) {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "everything set", env: with("DEFAULT_ROOM_CAPACITY", "2", "MAX_ROOM_CAPACITY", "4", "FANOUT_CONCURRENCY", "32",
			"METRICS_NAMESPACE", "ns", "AWS_LAMBDA_LOG_LEVEL", "DEBUG", "AWS_LAMBDA_FUNCTION_NAME", "fn",
			"MAX_ROOMS_PER_CONNECTION", "3", "ENTERS_PER_MINUTE", "6", "MESSAGES_PER_SECOND", "5"),
			check: func(t *testing.T, c handlers.Config) {
				want := handlers.Config{TableName: "t", ConnectionsURL: base["CONNECTIONS_URL"], FunctionName: "fn",
					DefaultCapacity: 2, MaxCapacity: 4, FanOutConcurrency: 32, MetricsNamespace: "ns", LogLevel: slog.LevelDebug,
					Limits: handlers.Limits{RoomsPerConnection: 3, MovesPerMinute: 6, MessagesPerSecond: 5}}
				if c != want {
					t.Errorf("config = %+v, want %+v", c, want)
				}
			}},
		{name: "missing required", env: map[string]string{}, wantErr: "TABLE_NAME is required; CONNECTIONS_URL is required"},
		{name: "bad number", env: with("MAX_ROOM_CAPACITY", "many"), wantErr: `MAX_ROOM_CAPACITY must be an integer from 1 to 1000, not "many"`},
		{name: "default above max", env: with("DEFAULT_ROOM_CAPACITY", "9", "MAX_ROOM_CAPACITY", "4"), wantErr: "DEFAULT_ROOM_CAPACITY (9) exceeds MAX_ROOM_CAPACITY (4)"},
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
