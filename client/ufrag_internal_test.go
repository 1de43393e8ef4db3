package client

import "testing"

// TestUfragMatches: a candidate is added only with the description of its
// ICE credentials; one of an ICE restart that comes before its offer waits.
func TestUfragMatches(t *testing.T) {
	sdp := "v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:x\r\n"
	for _, tt := range []struct {
		candidate string
		want      bool
	}{
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host ufrag abcd", true},
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host ufrag efgh", false},
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host ufrag abc", false},
		{"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", true}, // no ufrag: any
	} {
		if got := ufragMatches(sdp, tt.candidate); got != tt.want {
			t.Errorf("ufragMatches(%q) = %v, want %v", tt.candidate, got, tt.want)
		}
	}
}
