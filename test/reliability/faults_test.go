package reliability_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// faultScenario is one operation of the protocol, run on a table prepared
// by setup. Every scenario starts from connections A, B and C and room
// 00000000-0000-4000-8000-000000000001 created by A, with A in it as alice.
type faultScenario struct {
	name  string
	setup func(e *env)
	actor string
	op    func(e *env) int
	// reply is how many of the actor's frames in a clean run answer it
	// directly; an operation that succeeds must deliver them.
	reply int
	// alsoValid names views, besides the clean run's, that an operation
	// reporting success may leave (a fan-out's cleanup that failed):
	// "before", or "partial" (the table partial(e) leaves).
	alsoValid []string
	partial   func(e *env)
}

const faultRoom = "00000000-0000-4000-8000-000000000001"

func faultScenarios() []faultScenario {
	inRoom := func(ids ...string) func(e *env) {
		return func(e *env) {
			for _, id := range ids {
				e.enter(id, faultRoom, map[string]string{"B": "bob", "C": "cy"}[id])
			}
		}
	}
	goneB := func(setup func(*env)) func(*env) {
		return func(e *env) { setup(e); e.sender.setGone("B") }
	}
	enterC := func(e *env) int { return e.send("C", enterBody(faultRoom, "cy")) }
	return []faultScenario{
		{name: "connect", actor: "N", op: func(e *env) int { return e.connect("N") }},
		{name: "createroom", actor: "C", reply: 1, op: func(e *env) int { return e.send("C", `{"action":"createroom"}`) }},
		{name: "enterroom", actor: "B", reply: 2, op: func(e *env) int { return e.send("B", enterBody(faultRoom, "bob")) }},
		{name: "leaveroom", actor: "B", reply: 1, setup: inRoom("B"), op: func(e *env) int { return e.send("B", `{"action":"leaveroom"}`) }},
		{name: "relay", actor: "B", setup: inRoom("B"), op: func(e *env) int { return e.send("B", relayBody("A", "offer", "sdp")) }},
		{name: "disconnect member", actor: "B", setup: inRoom("B"), op: func(e *env) int { return e.disconnect("B") }},
		{name: "disconnect idle", actor: "C", op: func(e *env) int { return e.disconnect("C") }},
		{name: "disconnect unknown", actor: "X", op: func(e *env) int { return e.disconnect("X") }},
		{
			name: "gone-cleanup after relay", actor: "A", setup: goneB(inRoom("B", "C")),
			op:        func(e *env) int { return e.send("A", relayBody("B", "offer", "sdp")) },
			alsoValid: []string{"before"},
		},
		{
			name: "gone-cleanup after enter", actor: "C", reply: 2, setup: goneB(inRoom("B")), op: enterC,
			alsoValid: []string{"partial"}, partial: func(e *env) { inRoom("B")(e); enterC(e) },
		},
	}
}

// faultMode is a way a call fails. A recoverable mode must not change the
// outcome at all; an outage may fail the operation, cleanly.
type faultMode struct {
	name        string
	failure     dynamotest.Failure
	times       int
	onlyOp      string // the mode applies only to calls of this operation
	recoverable bool
}

// sdkAttempts is how many times the SDK's default retryer tries a DynamoDB
// call (aws-sdk-go-v2 service/dynamodb: 4).
const sdkAttempts = 4

var faultModes = []faultMode{
	{name: "outage", failure: dynamotest.InternalServerError, times: sdkAttempts},
	{name: "one 500", failure: dynamotest.InternalServerError, times: 1, recoverable: true},
	{name: "throttled", failure: dynamotest.Throttled, times: 1, recoverable: true},
	{name: "lost response", failure: dynamotest.LostResponse, times: 1, recoverable: true},
	{name: "conflict x2", failure: dynamotest.ConflictCanceled, times: 2, onlyOp: "TransactWriteItems", recoverable: true},
	{name: "conflict exception", failure: dynamotest.TransactionConflict, times: 1, onlyOp: "TransactWriteItems", recoverable: true},
	{name: "throttling canceled", failure: dynamotest.ThrottlingCanceled, times: 1, onlyOp: "TransactWriteItems", recoverable: true},
	// The store's own retry budget (6 attempts) runs out: ErrContention.
	{name: "contention", failure: dynamotest.ConflictCanceled, times: 6, onlyOp: "TransactWriteItems"},
}

// faultRun is what one run of a scenario produced.
type faultRun struct {
	status   int
	frames   map[string][]frame
	view     string
	calls    []string
	injected int      // calls the fault failed
	invalid  []string // invariant violations
}

// runScenario prepares a fresh table, runs the scenario's operation with
// inject applied just before it, and records the outcome.
func runScenario(t *testing.T, sc faultScenario, inject func(*dynamotest.FaultProxy)) (run faultRun, before string, e *env) {
	t.Helper()
	e = newEnv(t, withFaults, withStore(func(s *dynamo.Store) {
		sequentialRoomIDs(s)
		s.Backoff = dynamo.JitteredBackoff(time.Millisecond, 20*time.Millisecond)
	}))
	e.mustConnect("A", "B", "C")
	if got := e.createRoom("A", 4); got != faultRoom {
		t.Fatalf("room %s, want %s", got, faultRoom)
	}
	e.enter("A", faultRoom, "alice")
	if sc.setup != nil {
		sc.setup(e)
	}
	e.sender.reset()
	before = view(t, e.db)
	e.faults.Clear()
	if inject != nil {
		inject(e.faults)
	}
	run.status = sc.op(e)
	run.calls = e.faults.Calls()
	run.injected = e.faults.Injected()
	run.frames = map[string][]frame{}
	for _, id := range []string{"A", "B", "C", "N", "X"} {
		if fs := e.sender.take(id); len(fs) > 0 {
			run.frames[id] = fs
		}
	}
	e.faults.Clear()
	run.view = view(t, e.db)
	run.invalid = e.db.Violations(t)
	return run, before, e
}

// TestFaultsAtEveryCall fails every DynamoDB call of every operation, one
// at a time, in every way DynamoDB fails (see faultModes), and checks that
// the client gets a typed answer, that retries make recoverable failures
// invisible, and that nothing is half-written.
func TestFaultsAtEveryCall(t *testing.T) {
	for _, sc := range faultScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			clean, before, _ := runScenario(t, sc, nil)
			if len(clean.invalid) > 0 {
				t.Fatalf("clean run broke invariants: %v", clean.invalid)
			}
			views := map[string]bool{clean.view: true}
			for _, v := range sc.alsoValid {
				switch v {
				case "before":
					views[before] = true
				case "partial":
					partial := sc
					partial.setup, partial.op = nil, func(e *env) int { sc.partial(e); return 200 }
					run, _, _ := runScenario(t, partial, nil)
					views[run.view] = true
				}
			}
			for i, op := range clean.calls {
				nth := 0
				for _, c := range clean.calls[:i+1] {
					if c == op {
						nth++
					}
				}
				for _, mode := range faultModes {
					if mode.onlyOp != "" && mode.onlyOp != op {
						continue
					}
					name := fmt.Sprintf("call %d %s/%s", i+1, op, mode.name)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						run, _, _ := runScenario(t, sc, func(p *dynamotest.FaultProxy) {
							p.Inject(dynamotest.Fault{Op: op, Nth: nth, Times: mode.times, Failure: mode.failure})
						})
						if run.injected == 0 {
							t.Fatalf("the fault never hit: calls %v", run.calls)
						}
						checkFaultRun(t, sc, mode, clean, run, before, views)
					})
				}
			}
		})
	}
}

func checkFaultRun(t *testing.T, sc faultScenario, mode faultMode, clean, run faultRun, before string, views map[string]bool) {
	t.Helper()
	if len(run.invalid) > 0 {
		t.Errorf("invariants broken: %v", run.invalid)
	}
	if mode.recoverable {
		if run.status != clean.status || !sameFrames(run.frames, clean.frames) || run.view != clean.view {
			t.Errorf("a recoverable failure changed the outcome:\n status %d, want %d\n frames %v\n want   %v\n table\n%s\n want\n%s",
				run.status, clean.status, run.frames, clean.frames, run.view, clean.view)
		}
		return
	}
	actor := run.frames[sc.actor]
	switch {
	case run.status == 200:
		if !views[run.view] {
			t.Errorf("the operation reported success but left the table\n%s\nclean run:\n%s", run.view, clean.view)
		}
		if !slices.EqualFunc(prefix(actor, sc.reply), prefix(clean.frames[sc.actor], sc.reply), sameFrameButSeq) {
			t.Errorf("the operation succeeded but %s got %v, want the reply %v", sc.actor, actor, prefix(clean.frames[sc.actor], sc.reply))
		}
		for id, fs := range run.frames {
			if !subsequence(fs, clean.frames[id]) {
				t.Errorf("%s got %v, which a clean run never sends (%v)", id, fs, clean.frames[id])
			}
		}
	case run.status == 500:
		if run.view != before {
			t.Errorf("the operation failed but changed the table:\n%s\nbefore:\n%s", run.view, before)
		}
		for id, fs := range run.frames {
			internal := len(fs) == 1 && fs[0].Type == "error" && fs[0].Code == "internal"
			if id != sc.actor || !internal {
				t.Errorf("a failed operation sent %s %v", id, fs)
			}
		}
		if sc.reply > 0 && len(actor) != 1 {
			t.Errorf("%s was not told the operation failed: %v", sc.actor, actor)
		}
	default:
		t.Errorf("status %d", run.status)
	}
}

func prefix(fs []frame, n int) []frame { return fs[:min(n, len(fs))] }

func sameFrame(a, b frame) bool { return a.raw == b.raw }

// seqField matches the seq of a presence frame.
var seqField = regexp.MustCompile(`,"seq":[0-9]+`)

// sameFrameButSeq compares frames but for their seq: after a failure, a
// room's version may have moved on (an enter undone is two changes) or be
// unknown (0, when the room could not be read).
func sameFrameButSeq(a, b frame) bool {
	return seqField.ReplaceAllString(a.raw, "") == seqField.ReplaceAllString(b.raw, "")
}

func sameFrames(a, b map[string][]frame) bool {
	return maps.EqualFunc(a, b, func(x, y []frame) bool { return slices.EqualFunc(x, y, sameFrame) })
}

// subsequence reports whether fs is want with some frames left out (their
// seq aside).
func subsequence(fs, want []frame) bool {
	i := 0
	for _, f := range fs {
		for i < len(want) && !sameFrameButSeq(want[i], f) {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return true
}
