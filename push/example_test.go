package push_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/pushservice"
)

// The life of a subscription: the page subscribes, someone enters the room,
// the browser unsubscribes. A deployed function uses push.Policy{} and reads
// its keys with push.ParseVAPID; this example runs against the test push
// service on loopback.
func Example() {
	svc := pushservice.Start()
	defer svc.Close()
	policy := push.Policy{Ports: []int{svc.Port()}, AllowLoopback: true, RootCAs: svc.CertPool()}
	keys, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		panic(err)
	}
	sender := push.NewSender(keys, policy) // one per Lambda instance

	// subscribe: the page sends the PushSubscription it got with
	// applicationServerKey = keys.PublicKey().
	browser := svc.NewSubscriptionFor(keys.PublicKey())
	sub, err := push.ParseSubscription(browser.JSON, policy)
	if err != nil {
		panic(err)
	}
	// A client's endpoint aimed at the instance metadata service:
	_, err = push.ParseSubscription([]byte(`{"endpoint":"https://169.254.169.254/latest/meta-data/","keys":{"p256dh":"","auth":""}}`), policy)
	var invalid *push.Invalid
	if errors.As(err, &invalid) {
		fmt.Println("refused:", invalid.Code())
	}

	// enter: tell every subscriber of the room, within a deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := push.RoomEntered("3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "alice", "https://app.example.com/?room=3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
	if err != nil {
		panic(err)
	}
	err = sender.Send(ctx, sub, m)
	fmt.Println("send:", push.StatusOf(err))
	fmt.Printf("the browser got: %s\n", svc.Messages(browser.ID)[0].Payload)

	// The browser unsubscribed: the push service answers 410, and the
	// caller deletes the subscription.
	svc.Unsubscribe(browser.ID)
	for _, o := range sender.SendAll(ctx, []push.Subscription{sub}, m) {
		var se *push.SendError
		if errors.As(o.Err, &se) {
			fmt.Println("send all:", o.Status, se.Reason.Code(), se.StatusCode)
		}
	}
	// Output:
	// refused: endpoint-address
	// send: sent
	// the browser got: {"type":"room-entered","roomID":"3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b","userName":"alice","url":"https://app.example.com/?room=3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"}
	// send all: gone gone 410
}
