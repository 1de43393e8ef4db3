package chaos_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    chaos.Range
		wantErr bool
	}{
		{"3s", chaos.Range{Max: 3 * time.Second}, false},
		{"0", chaos.Range{}, false},
		{"0..3s", chaos.Range{Max: 3 * time.Second}, false},
		{"100ms..2s", chaos.Range{Min: 100 * time.Millisecond, Max: 2 * time.Second}, false},
		{"1s..1s", chaos.Range{Min: time.Second, Max: time.Second}, false},
		{"2s..1s", chaos.Range{}, true},
		{"-1s", chaos.Range{}, true},
		{"soon", chaos.Range{}, true},
		{"1s..", chaos.Range{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := chaos.ParseRange(tt.in)
			if (err != nil) != tt.wantErr || !tt.wantErr && got != tt.want {
				t.Errorf("ParseRange(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				if back, _ := chaos.ParseRange(got.String()); back != got {
					t.Errorf("ParseRange(%q.String() = %q) = %v, want %v", tt.in, got.String(), back, got)
				}
			}
		})
	}
}

func TestProfileValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*chaos.Profile)
		wantErr string
	}{
		{"default", func(*chaos.Profile) {}, ""},
		{"zero", func(p *chaos.Profile) { *p = chaos.Profile{} }, ""},
		{"loss over 1", func(p *chaos.Profile) { p.DisconnectLoss = 1.5 }, "DisconnectLoss 1.5"},
		{"negative throttle", func(p *chaos.Profile) { p.ConnectionsThrottle = -0.1 }, "ConnectionsThrottle -0.1"},
		{"conflict and throttle over 1", func(p *chaos.Profile) { p.DynamoDBConflict, p.DynamoDBThrottle = 0.6, 0.6 }, "over 1"},
		{"inverted range", func(p *chaos.Profile) { p.DynamoDBLatency = chaos.Range{Min: time.Second} }, "DynamoDBLatency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chaos.Default(1)
			tt.edit(&p)
			err := p.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestProfileString(t *testing.T) {
	if got, want := chaos.Default(7).String(), "seed 7: $disconnect lost 10%, late 0s..3s; @connections 429 5%, latency 5ms..250ms; DynamoDB conflict 5%, throttle 5%, latency 2ms..50ms"; got != want {
		t.Errorf("Default(7) = %q, want %q", got, want)
	}
	if got, want := (chaos.Profile{Seed: 3, DisconnectLoss: 1}).String(), "seed 3: $disconnect lost 100%, late 0s"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
