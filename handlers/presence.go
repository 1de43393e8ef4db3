package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Why a member left a room: the reason of a leave frame.
const (
	// ReasonLeft: the member sent leaveroom.
	ReasonLeft = "left"
	// ReasonDisconnected: the member's connection closed ($disconnect), on
	// a stack without resume.
	ReasonDisconnected = "disconnected"
	// ReasonGone: API Gateway reported the member's connection gone (410)
	// although its $disconnect never removed it.
	ReasonGone = "gone"
	// ReasonExpired: the member's connection closed and no new connection
	// resumed it within the window, or it outlived API Gateway's 2-hour
	// limit without a $disconnect, so it must be gone.
	ReasonExpired = "expired"
)

// maxPostFailures is how many failed posts (each after the @connections
// client's own retries) one announcement spends on a recipient before it
// gives up on it: the second chance covers a passing failure, and a
// connection that keeps failing is left to its own $disconnect or to the
// next fan-out that finds it gone.
const maxPostFailures = 2

// maxPresenceRounds bounds the fan-outs of one presence announcement: the
// first, then the corrections a re-read of the room calls for. A round that
// needs no correction ends it (the common case is one fan-out and one
// re-read); this bound only matters when the room changes under every
// re-read for seconds, and then it caps what one invocation spends.
const maxPresenceRounds = 10

// presence is one invocation's account of what it told the members of a room
// about who is in it, so that it can make them right.
//
// Every frame it sends is built from a strongly consistent read of the room
// (a dynamo.Roster) and carries that read's version as its seq. After each
// fan-out it reads the room again (the fence) and tells each member what
// differs between what it was told and the read: an enter for a member it
// was told had left, a leave for one it was told is there. It stops when a
// read shows nothing to correct. Any change committed after that read is
// announced by the invocation that made it, after its own commit and so
// after everything sent here; any change committed before it was seen and
// corrected. So the last presence frame each member receives about each
// other member is the truth, even for clients that ignore seq
// (docs/reliability.md, "Presence").
type presence struct {
	h      *server
	roomID string
	// told is, per recipient, what it was told about each member: present
	// (true) or not.
	told map[string]map[string]bool
	// snapshot holds the recipients owed a room-members frame (the
	// newcomer); whole holds those that have had one, whose view is the
	// whole room.
	snapshot, whole map[string]bool
	// reasons are why members this invocation took out of the room left.
	reasons map[string]string
	// departed are those members: every recipient that has not been told
	// otherwise is assumed to believe they are still there.
	departed []string
	// removed are connections this invocation found gone or expired: they
	// receive nothing more.
	removed map[string]bool
	// failures counts the failed posts per recipient; after
	// maxPostFailures it receives nothing more either.
	failures map[string]int
	// sent is what the last fan-out carried, per recipient: the changes it
	// told, and whether it carried the room-members frame. A post that
	// failed is taken back, so that the next round sends it again.
	sent map[string]sentPost
	// nested is set on an announcement started by another one (a gone
	// connection found in a different room), which starts no more.
	nested bool
	// members are the memberships seen, by connection: who a connection
	// was (its participant, for the frames) after it left.
	members map[string]dynamo.Member
	// lead are frames a recipient gets before any other of this
	// invocation's (the resumer's own resumed frame), sent once.
	lead map[string][]byte
	// last is the last read of the room settle made: the freshest truth
	// about who is in it.
	last dynamo.Roster
}

// sentPost is what one post of a fan-out told its recipient.
type sentPost struct {
	changes  map[string]bool // member → told present
	snapshot bool
}

func (h *server) newPresence(roomID string) *presence {
	return &presence{
		h: h, roomID: roomID, told: map[string]map[string]bool{},
		snapshot: map[string]bool{}, whole: map[string]bool{},
		reasons: map[string]string{}, removed: map[string]bool{}, failures: map[string]int{},
		members: map[string]dynamo.Member{}, lead: map[string][]byte{},
	}
}

// see records the memberships of a read of the room.
func (p *presence) see(r dynamo.Roster) {
	for _, list := range [][]dynamo.Member{r.Live, r.Stale} {
		for _, m := range list {
			p.members[m.ConnectionID] = m
		}
	}
}

// tell records that recipient must learn member's presence (present or
// not), as a change: it is assumed to believe the opposite.
func (p *presence) tell(recipient, member string, present bool) {
	if p.told[recipient] == nil {
		p.told[recipient] = map[string]bool{}
	}
	p.told[recipient][member] = !present
}

// depart records a member this invocation took out of the room, and why.
func (p *presence) depart(m dynamo.Member, reason string) {
	p.members[m.ConnectionID] = m
	p.reasons[m.ConnectionID] = reason
	p.departed = append(p.departed, m.ConnectionID)
}

// settle announces, starting from r (a read taken after the invocation's
// own change) and extra posts (to recipients outside the room, such as a
// member who just left it), until a re-read of the room calls for no
// correction, at most maxPresenceRounds fan-outs.
func (p *presence) settle(ctx context.Context, r dynamo.Roster, extra []post) {
	rec := telemetry.FromContext(ctx)
	for round := 1; ; round++ {
		p.last = r
		p.see(r)
		r = p.expelStale(ctx, r)
		posts := append(extra, p.corrections(ctx, r)...)
		extra = nil
		if len(posts) == 0 {
			return
		}
		if err := ctx.Err(); err != nil {
			p.h.log.WarnContext(ctx, "presence not settled: out of time", slog.String("roomID", p.roomID))
			return
		}
		departed := len(p.departed)
		gone, failed := p.h.fanOut(ctx, posts)
		p.takeBack(ctx, failed)
		p.removeGone(ctx, gone)
		if round > 1 {
			n := 0
			for _, q := range posts {
				n += len(q.frames)
			}
			rec.Count(telemetry.MetricPresenceCorrections, float64(n))
		}
		// Past the bound, only departures this invocation has just made
		// (gone members found by the last fan-out) earn another round: the
		// room must hear of them, and each member departs once.
		if round >= maxPresenceRounds && len(p.departed) == departed {
			p.h.log.WarnContext(ctx, "presence not settled: the room kept changing under every re-read; the last corrections are sent unchecked",
				slog.String("roomID", p.roomID), slog.Int("rounds", round))
			return
		}
		var err error
		if r, err = p.h.store.Roster(ctx, p.roomID); err != nil {
			p.h.log.ErrorContext(ctx, "re-read the room to check what was announced",
				slog.String("roomID", p.roomID), slog.String("error", err.Error()))
			return
		}
	}
}

// corrections returns, for every live member of r, the frames that make
// what it was told match r: enter or leave frames for each member it was
// told about (all members, for one whose view is the whole room), a
// participant's connection replaced by a resume as one resumed frame, then
// the room-members frame it is owed. Leaves whose reason this invocation
// does not know are looked up.
func (p *presence) corrections(ctx context.Context, r dynamo.Roster) []post {
	truth := map[string]dynamo.Member{}
	for _, m := range r.Live {
		truth[m.ConnectionID] = m
	}
	var changes []change
	for _, to := range r.Live {
		rid := to.ConnectionID
		if p.removed[rid] || p.failures[rid] >= maxPostFailures || !to.AwayUntil.IsZero() {
			continue // an away member's connection is closed: it hears what it missed when it resumes
		}
		told := p.told[rid]
		if told == nil {
			told = map[string]bool{}
			p.told[rid] = told
		}
		if !p.snapshot[rid] {
			for _, d := range p.departed {
				if _, ok := told[d]; !ok {
					told[d] = true
				}
			}
		}
		about := make([]string, 0, len(told))
		for id := range told {
			about = append(about, id)
		}
		if p.whole[rid] {
			for id := range truth {
				if _, ok := told[id]; !ok {
					about = append(about, id)
				}
			}
		}
		slices.Sort(about)
		for _, id := range about {
			_, present := truth[id]
			if have, ok := told[id]; ok && have == present {
				continue
			}
			told[id] = present
			changes = append(changes, change{to: rid, member: id, present: present})
		}
	}
	// A recipient told both that a participant's new connection is there
	// and that its previous one is not hears it as one resumed frame: the
	// resume this invocation announces, or another participant's that
	// committed while it ran (its fence finds the old connection gone and
	// the new one there).
	merged := map[change]bool{}        // the previous connections' leaves, folded
	resumedFrom := map[change]string{} // the new connections' enters: their previous connection
	for _, c := range changes {
		if !c.present {
			continue
		}
		if prev := p.previousConnection(changes, c, truth[c.member].ParticipantID, merged); prev != "" {
			merged[change{to: c.to, member: prev}] = true
			resumedFrom[c] = prev
		}
	}
	// The leaves to send whose reason this invocation does not know are
	// looked up (a resume's previous connection, folded, needs none).
	unknown := map[string]bool{}
	for _, c := range changes {
		if !c.present && !merged[c] && p.reasons[c.member] == "" {
			unknown[c.member] = true
		}
	}
	reasons := p.leaveReasons(ctx, unknown)

	seq := r.Version()
	frames := map[string][][]byte{}
	p.sent = map[string]sentPost{}
	var order []string
	sentTo := func(to string) sentPost {
		if _, ok := p.sent[to]; !ok {
			p.sent[to] = sentPost{changes: map[string]bool{}}
		}
		return p.sent[to]
	}
	add := func(to string, f []byte) {
		if _, ok := frames[to]; !ok {
			order = append(order, to)
		}
		sentTo(to)
		frames[to] = append(frames[to], f)
	}
	for to, f := range p.lead {
		add(to, f)
	}
	p.lead = map[string][]byte{}
	for _, c := range changes {
		switch prev := resumedFrom[c]; {
		case merged[c]:
		case prev != "":
			m := truth[c.member]
			add(c.to, encode(resumedFrame{Type: TypeResumed, RoomID: p.roomID, ConnectionID: m.ConnectionID,
				PreviousConnectionID: prev, ParticipantID: m.ParticipantID, UserName: m.UserName, Seq: seq}))
		case c.present:
			m := truth[c.member]
			add(c.to, encode(enterFrame{Type: TypeEnter, RoomID: p.roomID, ConnectionID: m.ConnectionID, ParticipantID: m.ParticipantID,
				UserName: m.UserName, Seq: seq}))
		default:
			add(c.to, encode(leaveFrame{Type: TypeLeave, RoomID: p.roomID, ConnectionID: c.member,
				ParticipantID: p.members[c.member].ParticipantID, Reason: reasons[c.member], Seq: seq}))
		}
		sentTo(c.to).changes[c.member] = c.present
	}
	for _, to := range r.Live {
		rid := to.ConnectionID
		if !p.snapshot[rid] || p.removed[rid] || p.failures[rid] >= maxPostFailures {
			continue
		}
		snap := membersFrame{Type: TypeRoomMembers, RoomID: p.roomID, Members: make([]memberEntry, 0, len(r.Live)), Seq: seq}
		told := map[string]bool{}
		for _, m := range r.Live {
			snap.Members = append(snap.Members, memberEntry{ConnectionID: m.ConnectionID, ParticipantID: m.ParticipantID, UserName: m.UserName})
			told[m.ConnectionID] = true
		}
		add(rid, encode(snap))
		sp := p.sent[rid]
		sp.snapshot = true
		p.sent[rid] = sp
		p.told[rid] = told
		delete(p.snapshot, rid)
		p.whole[rid] = true
	}
	// The newcomer's frames are the fan-out's longest chain: start them
	// first so that they overlap the other posts (docs/performance.md).
	slices.SortStableFunc(order, func(a, b string) int { return len(frames[b]) - len(frames[a]) })
	posts := make([]post, 0, len(order))
	for _, to := range order {
		posts = append(posts, post{to: to, frames: frames[to]})
	}
	return posts
}

// change is one thing a fan-out tells a recipient (to): that a member's
// connection is in the room (present) or not.
type change struct {
	to      string
	member  string
	present bool
}

// previousConnection returns the connection that c's recipient is told
// has gone and that belonged to participant, c's member: the member's
// previous connection, replaced by a resume. "" if there is none, or it is
// already folded into another resumed frame.
func (p *presence) previousConnection(changes []change, c change, participant string, merged map[change]bool) string {
	if participant == "" {
		return ""
	}
	for _, d := range changes {
		if d.to == c.to && !d.present && d.member != c.member && !merged[d] && p.members[d.member].ParticipantID == participant {
			return d.member
		}
	}
	return ""
}

// takeBack forgets what the last fan-out told the recipients whose post
// failed, so that the next round tells them again.
func (p *presence) takeBack(ctx context.Context, failed []string) {
	for _, to := range failed {
		if p.failures[to]++; p.failures[to] >= maxPostFailures {
			p.h.log.WarnContext(ctx, "gave up telling a member after failed posts", slog.String("to", to), slog.Int("failures", p.failures[to]))
		}
		sp := p.sent[to]
		for member, present := range sp.changes {
			p.told[to][member] = !present
		}
		if sp.snapshot {
			p.snapshot[to] = true
			delete(p.whole, to)
			delete(p.told, to)
		}
	}
}

// leaveReasons returns why each member left, for the leaves this invocation
// announces: the reason it recorded when it removed the member itself, and
// for the others (a correction of a leave another invocation made) a guess
// from one read of their connections: still connected means it left the
// room, otherwise it disconnected.
func (p *presence) leaveReasons(ctx context.Context, unknown map[string]bool) map[string]string {
	reasons := map[string]string{}
	for id, r := range p.reasons {
		reasons[id] = r
	}
	if len(unknown) == 0 {
		return reasons
	}
	ids := make([]string, 0, len(unknown))
	for id := range unknown {
		ids = append(ids, id)
		reasons[id] = ReasonDisconnected
	}
	conns, err := p.h.store.ConnectionsByID(ctx, ids...)
	if err != nil {
		p.h.log.WarnContext(ctx, "read connections to tell why they left", slog.String("error", err.Error()))
		return reasons
	}
	for id := range conns {
		reasons[id] = ReasonLeft
	}
	return reasons
}

// expelStale takes the stale members of r out of the room (their
// connection outlived API Gateway's 2-hour limit without a $disconnect, or
// they went away and their window for a resume passed) and returns r
// without them; their leaves (reason expired) go out with the next fan-out.
func (p *presence) expelStale(ctx context.Context, r dynamo.Roster) dynamo.Roster {
	for _, m := range r.Stale {
		if p.removed[m.ConnectionID] {
			continue
		}
		p.removed[m.ConnectionID] = true
		left, err := p.h.store.Expel(ctx, m)
		if err != nil {
			p.h.log.WarnContext(ctx, "expel stale member", slog.String("staleConnectionId", m.ConnectionID), slog.String("error", err.Error()))
			continue
		}
		if left.RoomID != "" {
			// Expel incremented the room's version: the leave must carry a
			// seq past the member's enter, or a client that drops frames
			// whose seq is not larger keeps a ghost. Other changes since
			// the read raise it further; the fence corrects those.
			r.Room.Version++
			telemetry.FromContext(ctx).Count(telemetry.MetricGoneCleaned, 1)
			p.depart(left, ReasonExpired)
			if !m.AwayUntil.IsZero() {
				p.h.reportUndelivered(ctx, m)
			}
		}
	}
	r.Stale = nil
	return r
}

// reportUndelivered tells the senders of the signals held for an away
// member whose window passed (it was just expelled, by this invocation
// only) that they were not delivered: one undeliverable error per sender,
// with the count, at the sender's connection now (it may have resumed
// elsewhere). Best effort: a sender that is gone is not told.
func (h *server) reportUndelivered(ctx context.Context, m dynamo.Member) {
	held, err := h.store.Held(ctx, m.ConnectionID)
	if err != nil {
		h.log.WarnContext(ctx, "read the signals held for an expired participant", slog.String("participantId", m.ParticipantID),
			slog.String("error", err.Error()))
		return
	}
	counts := map[string]int{}
	var senders []string
	for _, s := range held {
		if counts[s.From] == 0 {
			senders = append(senders, s.From)
		}
		counts[s.From]++
	}
	telemetry.FromContext(ctx).Count(telemetry.MetricSignalsUndeliverable, float64(len(held)))
	for _, from := range senders {
		to, err := h.store.Follow(ctx, from)
		if err != nil || to.ID == "" || !to.AwayUntil.IsZero() {
			continue
		}
		e := newError(CodeUndeliverable, fmt.Sprintf("%d signals were not delivered: their destination did not come back in time", counts[from]))
		e.Undelivered = &Undelivered{Dest: m.ConnectionID, ParticipantID: m.ParticipantID, Count: counts[from]}
		h.sendError(ctx, to.ID, e, ActionMessage)
	}
}

// removeGone takes connections a fan-out found gone out of their room.
func (p *presence) removeGone(ctx context.Context, gone []string) {
	for _, id := range gone {
		if p.removed[id] {
			continue
		}
		p.removed[id] = true
		left, err := p.h.removeConnection(ctx, p.members[id])
		switch {
		case err != nil:
			p.h.log.WarnContext(ctx, "clean up gone connection", slog.String("goneConnectionId", id), slog.String("error", err.Error()))
		case !left.AwayUntil.IsZero():
			// Its participant keeps the seat for a resume: the room hears
			// of it only if the window passes (or of the resume).
		case left.RoomID == p.roomID:
			p.depart(left, ReasonGone)
		case left.RoomID != "" && !p.nested:
			// It moved to another room since this room was read.
			q := p.h.newPresence(left.RoomID)
			q.nested = true
			q.depart(left, ReasonGone)
			q.removed[id] = true
			q.announce(ctx)
		}
	}
}

// announce reads the room and settles what this presence records.
func (p *presence) announce(ctx context.Context) {
	r, err := p.h.store.Roster(ctx, p.roomID)
	if err != nil {
		p.h.log.ErrorContext(ctx, "read the room to announce a leave", slog.String("roomID", p.roomID), slog.String("error", err.Error()))
		return
	}
	p.settle(ctx, r, nil)
}

// removeConnection removes a connection API Gateway reported gone, with its
// membership: Disconnect (which finds its room from its connection item),
// or, when its connection item is already gone (DynamoDB's TTL), Expel of
// the membership it was found in (m). It returns the membership that ended.
func (h *server) removeConnection(ctx context.Context, m dynamo.Member) (dynamo.Member, error) {
	left, err := h.store.Disconnect(ctx, m.ConnectionID)
	if err == nil && left.RoomID == "" {
		left, err = h.store.Expel(ctx, m)
	}
	if err == nil && left.RoomID != "" {
		telemetry.FromContext(ctx).Count(telemetry.MetricGoneCleaned, 1)
	}
	return left, err
}

// announceLeave tells a room that m left it, for reason; with tellLeaver the
// leaver gets its leave too (leaveroom: it is still connected).
func (h *server) announceLeave(ctx context.Context, m dynamo.Member, reason string, tellLeaver bool) {
	p := h.newPresence(m.RoomID)
	p.depart(m, reason)
	r, err := h.store.Roster(ctx, m.RoomID)
	if err != nil {
		// The room mates cannot be told; the leaver still is.
		h.log.ErrorContext(ctx, "read the room to announce a leave", slog.String("roomID", m.RoomID), slog.String("error", err.Error()))
	}
	var extra []post
	if tellLeaver {
		extra = append(extra, post{to: m.ConnectionID, frames: [][]byte{encode(leaveFrame{
			Type: TypeLeave, RoomID: m.RoomID, ConnectionID: m.ConnectionID, ParticipantID: m.ParticipantID, Reason: reason, Seq: r.Version(),
		})}})
	}
	if err != nil {
		h.fanOut(ctx, extra)
		return
	}
	p.settle(ctx, r, extra)
}

// freeSeats runs when a room refuses an enter as full: seats held by
// members whose $disconnect was lost are given back before the refusal
// stands. It reads the room, expels its stale members, and asks API Gateway
// (GetConnection, in parallel) about every live one; those it reports gone
// are removed. It returns the presence to announce the departures with.
func (h *server) freeSeats(ctx context.Context, roomID string) *presence {
	p := h.newPresence(roomID)
	r, err := h.store.Roster(ctx, roomID)
	if err != nil {
		h.log.WarnContext(ctx, "read a full room for seats of lost connections", slog.String("error", err.Error()))
		return p
	}
	p.see(r)
	p.expelStale(ctx, r)
	ids := make([]string, 0, len(r.Live))
	for _, m := range r.Live {
		if m.AwayUntil.IsZero() { // an away member's seat is held until its window passes
			ids = append(ids, m.ConnectionID)
		}
	}
	p.removeGone(ctx, h.checkAll(ctx, ids))
	return p
}

// checkAll asks API Gateway about each connection, at most
// cfg.FanOutConcurrency at a time, and returns those that are gone.
func (h *server) checkAll(ctx context.Context, ids []string) []string {
	gone := make([]bool, len(ids))
	h.parallel(len(ids), func(i int) {
		err := h.sender.Check(ctx, ids[i])
		switch {
		case errors.Is(err, connections.ErrGone):
			gone[i] = true
		case err != nil:
			h.log.WarnContext(ctx, "check connection", slog.String("to", ids[i]), slog.String("error", err.Error()))
		}
	})
	var out []string
	for i, g := range gone {
		if g {
			out = append(out, ids[i])
		}
	}
	return out
}
