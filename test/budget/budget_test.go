package budget_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/pushservice"
)

// step is one invocation of a session and the exact SDK calls it may make.
type step struct {
	name    string
	payload func() []byte
	status  int   // the response's statusCode (0: internal event)
	want    calls // every SDK call, exactly
	// parallel, if set, is how many posts of the fan-out must be in flight
	// at once (the @connections endpoint holds them until they are).
	parallel int
	check    func(t *testing.T)
}

// TestRoundTripBudget walks one session through every route and holds each
// invocation to its budget (docs/performance.md):
//
//	connect     1 DynamoDB write + 1 asynchronous Invoke
//	connected   0 DynamoDB + 1 post
//	createroom  1 transaction (+ the reply)
//	enterroom   1 read (the participant) + 1 transaction + 1 consistent
//	            query + one parallel fan-out + 1 consistent query (the
//	            fence: nothing to correct)
//	relay       1 conditional update (the sender's message count, the
//	            first of its window too) beside 1 read + 1 post
//	leaveroom   at most 1 read + 1 transaction + 1 query + fan-out
//	            + 1 query (the fence)
//	disconnect  the same (closed with 1000); otherwise 1 read + 1
//	            transaction (away: nothing to tell)
//	ping        the pong + 2 reads (the caller's room: anyone away?)
//	iceservers  the reply (+ 1 read of the participant with TURN)
//	relay to an away member: the relay's reads + 1 read + 1 transaction
//	            (the signal held), no post
//	resume      2 reads + 1 transaction + 1 query + fan-out + 1 query
//	            (the fence) + 1 query and 1 post per held signal
//
// A refused request costs its one decisive call and the error frame.
func TestRoundTripBudget(t *testing.T) {
	h := newHarness(t, nil)
	var room, tokenE string
	ids := []string{"connA=", "connB=", "connC=", "connD=", "connE="}
	a, b, c, d, e := ids[0], ids[1], ids[2], ids[3], ids[4]
	f := "connF="
	msg := func(id, body string) func() []byte { return func() []byte { return h.message(id, body) } }
	enter := func(id string) func() []byte {
		return func() []byte { return h.message(id, `{"action":"enterroom","roomID":"`+room+`"}`) }
	}
	expectTypes := func(id string, types ...string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			got := h.frames(id)
			if len(got) != len(types) {
				t.Fatalf("%s got %v, want types %v", id, got, types)
			}
			for i, f := range got {
				if f["type"] != types[i] {
					t.Errorf("%s frame %d = %v, want type %q", id, i, f, types[i])
				}
			}
		}
	}
	all := func(checks ...func(t *testing.T)) func(t *testing.T) {
		return func(t *testing.T) {
			for _, c := range checks {
				c(t)
			}
		}
	}

	var steps []step
	for _, id := range ids {
		steps = append(steps, step{
			name: "connect " + id, payload: func() []byte { return h.connect(id) }, status: 200,
			want: calls{putItem: 1, invoke: 1},
		})
	}
	steps = append(steps,
		step{
			name: "connected", payload: func() []byte { return h.lambda.takeLast(t) }, // E's, queued last
			want: calls{post: 1},
			check: func(t *testing.T) {
				f := h.frames(e)
				if len(f) != 1 || f[0]["type"] != handlers.TypeConnected || f[0]["resumeToken"] == nil {
					t.Fatalf("E got %v, want connected with a resume token", f)
				}
				tokenE = f[0]["resumeToken"].(string)
			},
		},
		step{
			name: "createroom", payload: msg(a, `{"action":"createroom","capacity":4}`), status: 200,
			want: calls{transact: 1, post: 1},
			check: func(t *testing.T) {
				f := h.frames(a)
				if len(f) != 1 || f[0]["type"] != handlers.TypeRoomCreated {
					t.Fatalf("A got %v", f)
				}
				room = f[0]["body"].(string)
			},
		},
		step{
			name: "enterroom 1st", payload: enter(a), status: 200,
			want:  calls{getItem: 1, transact: 1, query: 2, post: 2}, // enter + room-members to the newcomer
			check: expectTypes(a, handlers.TypeEnter, handlers.TypeRoomMembers),
		},
		step{
			name: "enterroom 2nd", payload: enter(b), status: 200, want: calls{getItem: 1, transact: 1, query: 2, post: 3},
			parallel: 2,
			check:    all(expectTypes(a, handlers.TypeEnter), expectTypes(b, handlers.TypeEnter, handlers.TypeRoomMembers)),
		},
		step{
			name: "enterroom 3rd", payload: enter(c), status: 200, want: calls{getItem: 1, transact: 1, query: 2, post: 4},
			parallel: 3,
		},
		step{
			name: "enterroom 4th", payload: enter(d), status: 200, want: calls{getItem: 1, transact: 1, query: 2, post: 5},
			parallel: 4,
			check: all(expectTypes(a, handlers.TypeEnter, handlers.TypeEnter), expectTypes(b, handlers.TypeEnter, handlers.TypeEnter),
				expectTypes(c, handlers.TypeEnter, handlers.TypeRoomMembers, handlers.TypeEnter),
				expectTypes(d, handlers.TypeEnter, handlers.TypeRoomMembers)),
		},
		step{
			// A full room is read once, and API Gateway asked about each
			// member (a seat a lost $disconnect kept is given back), before
			// the refusal stands.
			name: "enterroom full", payload: enter(e), status: 409,
			want: calls{getItem: 1, transact: 1, query: 1, check: 4, post: 1}, check: expectTypes(e, handlers.TypeError),
		},
		step{
			// The sender's first message in its 10-second window: one
			// update counts it (creating the window's counter), the
			// destination is read beside it.
			name: "relay", payload: msg(a, `{"action":"message","dest":"`+b+`","type":"offer","message":"v=0"}`), status: 200,
			want: calls{updateItem: 1, getItem: 1, post: 1}, check: expectTypes(b, "offer"),
		},
		step{
			name: "relay outside the room", payload: msg(a, `{"action":"message","dest":"`+e+`","type":"offer","message":"v=0"}`),
			status: 403, want: calls{updateItem: 1, getItem: 1, post: 1},
			check: all(expectTypes(a, handlers.TypeError), expectTypes(e)),
		},
		step{
			// Without STUN or TURN servers: the (empty) list, nothing read.
			name: "iceservers", payload: msg(a, `{"action":"iceservers"}`), status: 200,
			want: calls{post: 1}, check: expectTypes(a, handlers.TypeICEServers),
		},
		step{
			// The pong, then the sweep: the caller's connection and room
			// read (nobody is away: nothing more).
			name: "ping", payload: msg(a, `{"action":"ping"}`), status: 200,
			want: calls{post: 1, getItem: 2}, check: expectTypes(a, handlers.TypePong),
		},
		step{
			name: "leaveroom", payload: msg(d, `{"action":"leaveroom"}`), status: 200,
			want: calls{getItem: 1, transact: 1, query: 2, post: 4}, parallel: 4, // A, B, C and the leaver
			check: all(expectTypes(a, handlers.TypeLeave), expectTypes(b, handlers.TypeLeave),
				expectTypes(c, handlers.TypeLeave), expectTypes(d, handlers.TypeLeave)),
		},
		step{
			name: "leaveroom not in room", payload: msg(d, `{"action":"leaveroom"}`), status: 409,
			want: calls{getItem: 1, post: 1}, check: expectTypes(d, handlers.TypeError),
		},
		step{
			name: "disconnect in room", payload: func() []byte { return h.disconnect(c, 1000) }, status: 200,
			want: calls{getItem: 1, transact: 1, query: 2, post: 2}, parallel: 2, // A and B
			check: all(expectTypes(a, handlers.TypeLeave), expectTypes(b, handlers.TypeLeave), expectTypes(c)),
		},
		step{
			name: "disconnect idle", payload: func() []byte { return h.disconnect(d, 1001) }, status: 200,
			want: calls{getItem: 1, deleteItem: 1}, // no room: no transaction, no fan-out
		},
		step{
			name: "disconnect again", payload: func() []byte { return h.disconnect(d, 1001) }, status: 200,
			want: calls{getItem: 1},
		},
		step{
			name: "enterroom after the leaves", payload: enter(e), status: 200, want: calls{getItem: 1, transact: 1, query: 2, post: 4},
			parallel: 3,
		},
		step{
			// Dropped (1006): E's participant goes away; nobody is told.
			name: "disconnect away", payload: func() []byte { return h.disconnect(e, 1006) }, status: 200,
			want:  calls{getItem: 1, transact: 1},
			check: all(expectTypes(a, handlers.TypeEnter), expectTypes(b, handlers.TypeEnter)),
		},
		step{
			name: "relay to an away member", payload: msg(a, `{"action":"message","dest":"`+e+`","type":"offer","message":"v=0"}`),
			status: 200, want: calls{updateItem: 1, getItem: 2, transact: 1},
			check: expectTypes(a),
		},
		step{
			// Someone is away, but within its window: read, nothing more.
			name: "ping with a member away", payload: msg(a, `{"action":"ping"}`), status: 200,
			want: calls{post: 1, getItem: 2, query: 1}, check: expectTypes(a, handlers.TypePong),
		},
		step{
			name: "connect the resumer", payload: func() []byte { return h.connect(f) }, status: 200,
			want: calls{putItem: 1, invoke: 1},
		},
		step{
			// F resumes E: F hears resumed and room-members (2 posts) and
			// the held offer (1), A and B one resumed frame each.
			name: "resume", payload: func() []byte { return h.message(f, `{"action":"resume","token":"`+tokenE+`"}`) }, status: 200,
			want: calls{getItem: 2, transact: 1, query: 3, post: 5}, parallel: 3,
			check: all(expectTypes(a, handlers.TypeResumed), expectTypes(b, handlers.TypeResumed),
				expectTypes(f, handlers.TypeResumed, handlers.TypeRoomMembers, "offer")),
		},
	)
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { runStep(t, h, s) }) {
			t.FailNow() // later steps depend on this one
		}
	}
	dynamotest.CheckInvariants(t, h.db)
}

func runStep(t *testing.T, h *harness, s step) {
	t.Helper()
	var g *gate
	if s.parallel > 0 {
		g = newGate(s.parallel)
		h.conns.setGate(g)
		defer h.conns.setGate(nil)
	}
	status, got := h.run(s.payload())
	if status != s.status {
		t.Errorf("status = %d, want %d", status, s.status)
	}
	if !maps.Equal(got, s.want) {
		t.Errorf("SDK calls = %v, budget %v", got, s.want)
	}
	if g != nil && g.maxInFlight() != s.parallel {
		t.Errorf("fan-out had at most %d posts in flight, want %d at once", g.maxInFlight(), s.parallel)
	}
	if s.check != nil {
		s.check(t)
	}
}

// TestRoundTripBudgetGone covers the calls the budget lets through on
// purpose: cleaning up a connection API Gateway reports gone (its
// $disconnect may never come), re-posting "connected" while the handshake
// is finishing, and undoing an enter whose room cannot be listed.
func TestRoundTripBudgetGone(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c := "goneA=", "goneB=", "goneC="
	for _, id := range []string{a, b} {
		if status, got := h.run(h.connect(id)); status != 200 || !maps.Equal(got, calls{putItem: 1, invoke: 1}) {
			t.Fatalf("connect %s: status %d, calls %v", id, status, got)
		}
	}

	t.Run("connected retried while gone", func(t *testing.T) {
		h.conns.setGone(b, 2)
		_, got := h.run(h.lambda.takeLast(t))
		if want := (calls{post: 3}); !maps.Equal(got, want) {
			t.Errorf("SDK calls = %v, want %v", got, want)
		}
		if f := h.frames(b); len(f) != 1 || f[0]["type"] != handlers.TypeConnected {
			t.Errorf("B got %v", f)
		}
	})

	h.run(h.message(a, `{"action":"createroom"}`))
	var created map[string]any
	if err := json.Unmarshal([]byte(h.conns.take(a)[0]), &created); err != nil {
		t.Fatal(err)
	}
	room := created["body"].(string)
	for _, id := range []string{a, b} {
		h.run(h.message(id, `{"action":"enterroom","roomID":"`+room+`"}`))
	}
	h.frames(a)
	h.frames(b)

	t.Run("enterroom whose room query fails", func(t *testing.T) {
		if status, _ := h.run(h.connect(c)); status != 200 {
			t.Fatalf("connect C: %d", status)
		}
		h.faults.Inject(dynamotest.Fault{Op: "Query", Failure: dynamotest.Failure{
			Name: "validation", Status: http.StatusBadRequest, Type: "ValidationException",
		}})
		defer h.faults.Clear()
		status, got := h.run(h.message(c, `{"action":"enterroom","roomID":"`+room+`"}`))
		// Enter (read and transaction), the failed query, then the undo
		// (a leave: read and transaction) before the client hears
		// "internal".
		want := calls{transact: 2, query: 1, getItem: 2, post: 1}
		if status != 500 || !maps.Equal(got, want) {
			t.Errorf("status %d, SDK calls = %v, want 500 and %v", status, got, want)
		}
		if f := h.frames(c); len(f) != 1 || f[0]["code"] != handlers.CodeInternal {
			t.Errorf("C got %v, want one internal error", f)
		}
		if f := h.frames(a); len(f) != 0 {
			t.Errorf("A was told %v about an enter that was undone", f)
		}
	})

	t.Run("relay to a gone destination", func(t *testing.T) {
		h.conns.setGone(b, -1)
		status, got := h.run(h.message(a, `{"action":"message","dest":"`+b+`","type":"offer","message":"v=0"}`))
		// The relay (its count, the destination's read and 1 post
		// answered 410), then B's cleanup: what its $disconnect
		// would have cost (B goes away: read, transaction), and the signal
		// held for it (read, transaction).
		want := calls{updateItem: 1, getItem: 3, post: 1, transact: 2}
		if status != 200 || !maps.Equal(got, want) {
			t.Errorf("status %d, SDK calls = %v, want %v", status, got, want)
		}
		if f := h.frames(a); len(f) != 0 {
			t.Errorf("A got %v, want nothing (B is away, the offer held for it)", f)
		}
	})
	dynamotest.CheckInvariants(t, h.db)
}

// TestRoundTripBudgetPush holds Web Push to its budget (docs/push.md):
//
//	subscribe   1 read (the participant) + 1 transaction + the reply
//	enterroom into a room nobody follows: nothing more than without push
//	enterroom into a followed room: + 1 consistent query (the
//	            subscriptions) + 1 conditional update (the claim) per
//	            subscription not in the room + 1 POST to its push service,
//	            after the fan-out and the fence
//	enterroom again within the minute: the query and the (refused)
//	            claim, no POST
func TestRoundTripBudgetPush(t *testing.T) {
	keys, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	svc := pushservice.New(t)
	h := newHarness(t, map[string]string{"VAPID_SECRET": keys.Secret()}, func(d *handlers.Deps) {
		d.PushPolicy = &push.Policy{AllowLoopback: true, Ports: []int{svc.Port()}, RootCAs: svc.CertPool()}
	})
	a, b := "pushA=", "pushB="
	for _, id := range []string{a, b} {
		h.run(h.connect(id))
		h.run(h.lambda.takeLast(t))
		h.frames(id)
	}
	h.run(h.message(a, `{"action":"createroom"}`))
	var created map[string]any
	if err := json.Unmarshal([]byte(h.conns.take(a)[0]), &created); err != nil {
		t.Fatal(err)
	}
	room := created["body"].(string)
	enter := func(id string) []byte { return h.message(id, `{"action":"enterroom","roomID":"`+room+`"}`) }
	sub := svc.NewSubscriptionFor(keys.PublicKey())
	for _, s := range []struct {
		name    string
		payload []byte
		want    calls
		posts   int // to the push service
	}{
		{"enterroom nobody follows", enter(a), calls{getItem: 1, transact: 1, query: 2, post: 2}, 0},
		{"subscribe", h.message(a, `{"action":"subscribe","roomID":"`+room+`","subscription":`+string(sub.JSON)+`}`),
			calls{getItem: 1, transact: 1, post: 1}, 0},
		{"leaveroom", h.message(a, `{"action":"leaveroom"}`), calls{getItem: 1, transact: 1, query: 2, post: 1}, 0},
		{"enterroom a followed room", enter(b), calls{getItem: 1, transact: 1, query: 3, updateItem: 1, post: 2}, 1},
		{"leaveroom again", h.message(b, `{"action":"leaveroom"}`), calls{getItem: 1, transact: 1, query: 2, post: 1}, 1},
		{"enterroom within the minute", enter(b), calls{getItem: 1, transact: 1, query: 3, updateItem: 1, post: 2}, 1},
	} {
		t.Run(s.name, func(t *testing.T) {
			status, got := h.run(s.payload)
			if status != 200 || !maps.Equal(got, s.want) {
				t.Errorf("status %d, SDK calls = %v, budget %v", status, got, s.want)
			}
			if n := svc.Requests(sub.ID); n != s.posts {
				t.Errorf("%d POSTs to the push service so far, want %d", n, s.posts)
			}
			h.frames(a)
			h.frames(b)
		})
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestConnectionsPoolWidth checks that the @connections client keeps at
// least as many idle connections to the endpoint as a fan-out has posts in
// flight, and does not cap connections per host below that, so a fan-out
// never waits for a connection nor re-dials one the previous fan-out opened.
func TestConnectionsPoolWidth(t *testing.T) {
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
	for _, concurrency := range []int{1, handlers.DefaultFanOutConcurrency, 50, 1000} {
		t.Run(itoa(concurrency), func(t *testing.T) {
			cfg := handlers.Config{ConnectionsURL: "https://example.execute-api.us-east-1.amazonaws.com/prod", FanOutConcurrency: concurrency}
			clients := wiring.NewClients(awsCfg, cfg, wiring.Endpoints{})
			bc, ok := clients.ManagementAPI.Options().HTTPClient.(*awshttp.BuildableClient)
			if !ok {
				t.Fatalf("@connections HTTP client is %T, want *http.BuildableClient", clients.ManagementAPI.Options().HTTPClient)
			}
			tr := bc.GetTransport()
			if tr.MaxIdleConnsPerHost < concurrency {
				t.Errorf("MaxIdleConnsPerHost = %d < fan-out concurrency %d", tr.MaxIdleConnsPerHost, concurrency)
			}
			if tr.MaxIdleConns != 0 && tr.MaxIdleConns < concurrency {
				t.Errorf("MaxIdleConns = %d < fan-out concurrency %d", tr.MaxIdleConns, concurrency)
			}
			if tr.MaxConnsPerHost != 0 && tr.MaxConnsPerHost < concurrency {
				t.Errorf("MaxConnsPerHost = %d < fan-out concurrency %d", tr.MaxConnsPerHost, concurrency)
			}
		})
	}
}
