package emulator_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/emulator"
)

// The local stack: routes from the template, the same handler Lambda runs, the
// Gateway mounted beside a page at "/".
func Example() {
	tmpl, err := emulator.ReadTemplate("testdata/template-route-response.yaml")
	if err != nil {
		log.Fatal(err)
	}
	handler := lambda.NewHandler(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if ev.RequestContext.RouteKey == "ping" { // a two-way route in this template
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"type":"pong"}`}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil // $connect must answer 2xx
	})
	gw, err := emulator.New(emulator.Config{
		Stage:                    tmpl.StageName,
		RouteSelectionExpression: tmpl.RouteSelectionExpression,
		Routes:                   tmpl.Routes,
		RouteResponses:           tmpl.RouteResponses,
		FunctionName:             tmpl.FunctionName,
		Handler:                  handler,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "demo page") })
	for _, pattern := range gw.Patterns() {
		mux.Handle(pattern, gw)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer gw.Shutdown(context.Background()) // before srv.Close: deferred calls run last first

	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/"+tmpl.StageName, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"action":"ping"}`)); err != nil {
		log.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	// Output: {"type":"pong"}
}
