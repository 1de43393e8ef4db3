package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
)

// benchRelayStore answers the relay's read from memory.
type benchRelayStore struct {
	benchStore
	conns map[string]dynamo.Connection
}

func (s *benchRelayStore) Relay(_ context.Context, from, to string) (dynamo.Connection, dynamo.Connection, error) {
	return s.conns[from], s.conns[to], nil
}

// benchNopSender accepts every post at once.
type benchNopSender struct{}

func (benchNopSender) Post(context.Context, string, []byte) error { return nil }
func (benchNopSender) Check(context.Context, string) error        { return nil }
func (benchNopSender) Close(context.Context, string) error        { return nil }

// BenchmarkRelayHandler measures the function's own work for one relay —
// decoding the event and the message, the frame, the log line and the
// metrics line — with the store and the post answered from memory, so
// that only our code and encoding/json and log/slog are measured.
//
//	go test -run '^$' -bench RelayHandler -benchmem ./handlers
func BenchmarkRelayHandler(b *testing.B) {
	store := &benchRelayStore{conns: map[string]dynamo.Connection{
		"senderConn=": {ID: "senderConn=", RoomID: benchRoomID},
		"destConn=":   {ID: "destConn=", RoomID: benchRoomID},
	}}
	router := handlers.New(handlers.Config{}, handlers.Deps{
		Store: store, Sender: benchNopSender{},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)), // formatted, as in Lambda, then dropped
		Metrics: io.Discard,
	})
	body, _ := json.Marshal(map[string]string{
		"action": "message", "dest": "destConn=", "type": "offer",
		"message": `{"sdp":"v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"}`,
	})
	payload, err := json.Marshal(events.APIGatewayWebsocketProxyRequest{
		Body: string(body),
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: "message", EventType: "MESSAGE", ConnectionID: "senderConn=", RequestID: "bench",
			MessageID: "msg", Stage: "prod", DomainName: "example.execute-api.us-east-1.amazonaws.com",
			APIID: "example", ConnectedAt: 1700000000000, RequestTimeEpoch: 1700000000000,
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := router.Invoke(context.Background(), payload)
		if err != nil || len(out) == 0 {
			b.Fatalf("%s %v", out, err)
		}
	}
}
