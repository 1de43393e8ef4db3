// Package testkit holds what the tests of several packages share: models of
// what clients see, fakes and helpers. Nothing in it runs in the Lambda or
// the local stack.
package testkit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// View is one client's view of one room, built only from the presence
// frames it received, in order — in the two ways docs/protocol.md
// ("Presence") describes:
//
//   - Naive, as a seed client builds it: room-members replaces the set,
//     enter adds, leave removes; seq is ignored.
//   - Ordered, as a client that uses seq builds it: for each member the
//     frame with the largest seq wins, and a room-members frame at seq s
//     speaks for every member (listed: present; not listed: absent) whose
//     last frame is older than s.
//
// It is safe for concurrent use.
type View struct {
	RoomID string

	mu      sync.Mutex
	naive   map[string]bool
	ordered map[string]entry
	applied []string // the presence frames, in order
}

type entry struct {
	present bool
	seq     int64
}

// NewView returns an empty view of a room.
func NewView(roomID string) *View {
	return &View{RoomID: roomID, naive: map[string]bool{}, ordered: map[string]entry{}}
}

// presenceFrame is the union of the presence frames' fields.
type presenceFrame struct {
	Type         string `json:"type"`
	RoomID       string `json:"roomID"`
	ConnectionID string `json:"connectionID"`
	Seq          *int64 `json:"seq"`
	Members      []struct {
		ConnectionID string `json:"connectionID"`
	} `json:"members"`
}

// Apply applies one frame the client received. Frames that are not about
// presence in this room are ignored; a presence frame without seq is an
// error.
func (v *View) Apply(frame []byte) error {
	var f presenceFrame
	if err := json.Unmarshal(frame, &f); err != nil {
		return fmt.Errorf("frame %s: %w", frame, err)
	}
	switch f.Type {
	case "enter", "leave", "room-members":
	default:
		return nil
	}
	if f.RoomID != v.RoomID {
		return nil
	}
	if f.Seq == nil {
		return fmt.Errorf("presence frame without seq: %s", frame)
	}
	seq := *f.Seq
	v.mu.Lock()
	defer v.mu.Unlock()
	v.applied = append(v.applied, string(frame))
	newer := func(id string) bool { e, ok := v.ordered[id]; return !ok || e.seq < seq }
	switch f.Type {
	case "enter", "leave":
		present := f.Type == "enter"
		if present {
			v.naive[f.ConnectionID] = true
		} else {
			delete(v.naive, f.ConnectionID)
		}
		if newer(f.ConnectionID) {
			v.ordered[f.ConnectionID] = entry{present: present, seq: seq}
		}
	case "room-members":
		listed := map[string]bool{}
		for _, m := range f.Members {
			listed[m.ConnectionID] = true
		}
		v.naive = listed
		for id := range listed {
			if newer(id) {
				v.ordered[id] = entry{present: true, seq: seq}
			}
		}
		for id, e := range v.ordered {
			if !listed[id] && e.seq < seq {
				v.ordered[id] = entry{present: false, seq: seq}
			}
		}
	}
	return nil
}

// Naive returns the members the naive view holds, sorted.
func (v *View) Naive() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for id := range v.naive {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Ordered returns the members the ordered view holds, sorted.
func (v *View) Ordered() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for id, e := range v.ordered {
		if e.present {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// History returns the presence frames the view applied that mention member
// (all of them if member is empty), in order: what a failure message shows.
func (v *View) History(member string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, f := range v.applied {
		if member == "" || strings.Contains(f, `"`+member+`"`) {
			out = append(out, f)
		}
	}
	return out
}
