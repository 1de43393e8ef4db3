package testkit_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestView: the two ways a client builds its view of a room, as
// docs/protocol.md describes them.
func TestView(t *testing.T) {
	const r = "room"
	enter := func(id string, seq int) string {
		return `{"type":"enter","roomID":"room","connectionID":"` + id + `","seq":` + strconv.Itoa(seq) + `}`
	}
	leave := func(id string, seq int) string {
		return `{"type":"leave","roomID":"room","connectionID":"` + id + `","reason":"left","seq":` + strconv.Itoa(seq) + `}`
	}
	members := func(seq int, ids ...string) string {
		var m []string
		for _, id := range ids {
			m = append(m, `{"connectionID":"`+id+`"}`)
		}
		return `{"type":"room-members","roomID":"room","members":[` + strings.Join(m, ",") + `],"seq":` + strconv.Itoa(seq) + `}`
	}
	tests := []struct {
		name         string
		frames       []string
		naive, order string
	}{
		{"snapshot then changes", []string{enter("N", 3), members(3, "A", "N"), enter("B", 4), leave("A", 5)}, "B N", "B N"},
		{"a leave overtaken by a stale enter", []string{leave("B", 5), enter("B", 4)}, "B", ""},
		{"an enter that overtook the snapshot", []string{enter("Y", 6), members(5, "A", "N")}, "A N", "A N Y"},
		{"a snapshot newer than a held member", []string{enter("X", 2), members(4, "A")}, "A", "A"},
		{"a correction at the same seq", []string{leave("B", 7), leave("B", 7)}, "", ""},
		{"other rooms and frames ignored", []string{enter("A", 1), `{"type":"enter","roomID":"other","connectionID":"Z","seq":9}`,
			`{"type":"offer","body":"x","from":"A"}`, `{"type":"pong"}`}, "A", "A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testkit.NewView(r)
			for _, f := range tt.frames {
				if err := v.Apply([]byte(f)); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join(v.Naive(), " "); got != tt.naive {
				t.Errorf("Naive = %q, want %q", got, tt.naive)
			}
			if got := strings.Join(v.Ordered(), " "); got != tt.order {
				t.Errorf("Ordered = %q, want %q", got, tt.order)
			}
		})
	}
	if err := testkit.NewView(r).Apply([]byte(`{"type":"leave","roomID":"room","connectionID":"A"}`)); err == nil {
		t.Error("a presence frame without seq was accepted")
	}
	if got := testkit.NewView(r).Naive(); !slices.Equal(got, nil) {
		t.Errorf("empty view holds %q", got)
	}
}
