package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// startExampleStack starts a local stack in-process (as `make run` does) and
// returns its WebSocket URL and a function that stops it.
func startExampleStack() (url string, stop func()) {
	s, err := localstack.Start(context.Background(), localstack.Options{
		Template: "../template.yaml", Logs: io.Discard,
		Getenv: func(string) string { return "" },
	})
	if err != nil {
		log.Fatal(err)
	}
	return s.WebSocketURL, func() { _ = s.Shutdown(context.Background()) }
}

// Two programs meet in a room and talk over a data channel: alice creates
// the room, bob joins it by its ID, and alice greets whoever joins.
func Example() {
	url, stop := startExampleStack()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alice, err := client.Join(ctx, url, client.Options{UserName: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Leave(ctx)
	bob, err := client.Join(ctx, url, client.Options{RoomID: alice.ID(), UserName: "bob"})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Leave(ctx)

	go func() {
		for ev := range alice.Events() {
			if j, ok := ev.(*client.PeerJoined); ok {
				_ = alice.SendText(ctx, j.Peer.ID(), "hello "+j.Peer.UserName())
			}
		}
	}()
	for ev := range bob.Events() {
		if m, ok := ev.(*client.Message); ok {
			fmt.Printf("%s says %q\n", m.Peer.UserName(), m.Data)
			break
		}
	}
	// Output: alice says "hello bob"
}

// A refusal of the stack is a *client.Error with the protocol's code.
func ExampleError() {
	url, stop := startExampleStack()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alone, err := client.Join(ctx, url, client.Options{Capacity: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer alone.Leave(ctx)
	_, err = client.Join(ctx, url, client.Options{RoomID: alone.ID()})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code)
	}
	// Output: room-full
}

// Events tells what happens in the room, in order. Here bob watches alice
// arrive, open the data channel, and go.
func ExampleRoom_Events() {
	url, stop := startExampleStack()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	bob, err := client.Join(ctx, url, client.Options{UserName: "bob"})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Leave(ctx)
	alice, err := client.Join(ctx, url, client.Options{RoomID: bob.ID(), UserName: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range bob.Events() {
		switch ev := ev.(type) {
		case *client.PeerJoined:
			fmt.Println("joined:", ev.Peer.UserName())
		case *client.DataChannelOpened:
			fmt.Println("data channel open:", ev.Channel.Label())
			_ = alice.Leave(ctx)
		case *client.PeerLeft:
			fmt.Println("left:", ev.Peer.UserName(), ev.Reason)
			return
		}
	}
	// Output:
	// joined: alice
	// data channel open: slsrtc
	// left: alice left
}
