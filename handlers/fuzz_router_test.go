package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// clientStatus is the protocol's status for each error code a client may
// get for its own input. "internal" is missing on purpose: a healthy table
// never answers it, so a fuzz input that gets it found a bug (or a panic,
// which the router turns into "internal").
var clientStatus = map[string]int{
	"invalid-message": 400, "unknown-action": 400, "payload-too-large": 413, "room-not-found": 404,
	"room-full": 409, "already-in-room": 409, "not-in-room": 409, "name-taken": 409, "forbidden": 403,
}

// FuzzRouter sends the router API Gateway events with any route key and
// any body, from a connection in a room, one alone in another, one in no
// room or one never connected. Whatever arrives, Router.Invoke answers
// (no error, no panic), never "internal"; a message is either served or
// refused with exactly one typed error frame whose code matches the status;
// every frame is JSON with a type; and the table invariants hold. The table
// is put back after every input. Seeds: f.Add below and
// testdata/fuzz/FuzzRouter (run by plain go test).
func FuzzRouter(f *testing.F) {
	for _, seed := range []struct {
		route string
		body  string
		from  byte
	}{
		{"ping", `{"action":"ping"}`, 0},
		{"createroom", `{"action":"createroom","capacity":2}`, 2},
		{"enterroom", `{"action":"enterroom","roomID":"00000000-0000-4000-8000-000000000001","userName":"carol"}`, 2},
		{"enterroom", `{"action":"enterroom","roomID":"00000000-0000-4000-8000-000000000001","userName":"alice"}`, 2},
		{"leaveroom", `{"action":"leaveroom"}`, 1},
		{"message", `{"action":"message","dest":"B","type":"offer","message":"v=0"}`, 0},
		{"message", `{"action":"message","dest":"C","type":"offer","message":"v=0"}`, 0},
		{"message", `{"action":"message","dest":"A","type":"enter","message":"{}"}`, 1},
		{"$default", `{"action":"dance"}`, 0},
		{"$default", `not json`, 3},
		{"$connect", ``, 0},
		{"$disconnect", ``, 1},
		{"sendmessage", `{"action":"sendmessage","data":"x"}`, 0},
		{"", `{}`, 0},
	} {
		f.Add(seed.route, []byte(seed.body), seed.from)
	}
	h := newHarness(f)
	rooms := 0
	h.store.NewRoomID = func() (string, error) {
		rooms++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", rooms), nil
	}
	for _, id := range []string{"A", "B", "C"} {
		h.connect(id)
	}
	room := h.createRoom("A", 3)
	if room != "00000000-0000-4000-8000-000000000001" {
		f.Fatalf("room %s: the seeds expect the first sequential ID", room)
	}
	h.enter("A", room, "alice")
	h.enter("B", room, "bob")
	h.enter("C", h.createRoom("C", 2), "")
	baseline := h.db.Items(f)

	f.Fuzz(func(t *testing.T, routeKey string, body []byte, from byte) {
		h.t = t
		h.logs.Reset()
		h.metrics.Reset()
		h.sender.Reset()
		defer restoreTable(t, h.db, baseline)
		conn := []string{"A", "B", "C", "X"}[from%4]
		eventType := "MESSAGE"
		switch routeKey {
		case "$connect":
			eventType, conn = "CONNECT", "N"
		case "$disconnect":
			eventType = "DISCONNECT"
		}
		ev := h.event(routeKey, eventType, conn, string(body))
		payload, err := json.Marshal(ev)
		if err != nil {
			t.Skip("not an event API Gateway can send:", err)
		}
		out, err := h.router.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("Invoke(%s, %q): %v", routeKey, body, err)
		}
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if strings.Contains(h.logs.String(), "panic") || resp.StatusCode == 500 {
			t.Fatalf("%s from %s with %q: status %d\n%s", routeKey, conn, body, resp.StatusCode, h.logs.String())
		}
		frames := map[string][]string{}
		for _, id := range []string{"A", "B", "C", "X", "N"} {
			frames[id] = h.sender.Take(id)
			for _, fr := range frames[id] {
				var typed struct{ Type string }
				if json.Unmarshal([]byte(fr), &typed) != nil || typed.Type == "" {
					t.Fatalf("%s got a frame without a type: %q", id, fr)
				}
			}
		}
		if eventType == "MESSAGE" && resp.StatusCode != 200 {
			var e struct{ Type, Code, Message string }
			got := frames[conn]
			if len(got) != 1 || json.Unmarshal([]byte(got[0]), &e) != nil || e.Type != "error" ||
				clientStatus[e.Code] != resp.StatusCode || e.Message == "" {
				t.Fatalf("%s from %s with %q: status %d, frames %q; want one typed error frame", routeKey, conn, body, resp.StatusCode, got)
			}
		}
		dynamotest.CheckInvariants(t, h.db)
	})
}

// restoreTable puts the table back as baseline: items it gained are
// deleted, changed or lost ones put back.
func restoreTable(t *testing.T, db *dynamotest.DB, baseline map[string]map[string]types.AttributeValue) {
	t.Helper()
	ctx := context.Background()
	now := db.Items(t)
	for key := range now {
		if _, ok := baseline[key]; !ok {
			db.Delete(t, key)
		}
	}
	for key, item := range baseline {
		if !reflect.DeepEqual(now[key], item) {
			if _, err := db.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(db.Table), Item: item}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
