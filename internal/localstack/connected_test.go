package localstack_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
)

// TestConnectedFirst connects many clients at once. Each one's first frame
// is {"type":"connected","body":<ID>}, ID is its own connection's (a
// PostToConnection to it with the real SDK client reaches that client), and
// the access log shows a CONNECT for each ID.
//
// Only a client that waits for it gets "connected" first: it is posted by an
// asynchronous invocation after $connect returns, as in AWS, so the answer
// to a message sent right after the handshake usually overtakes it.
func TestConnectedFirst(t *testing.T) {
	s := newStack(t)
	const n = 16
	peers := make([]*peer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() { peers[i], _, errs[i] = tryDialPeer(t, s, fmt.Sprintf("P%d", i)) })
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, p := range peers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if ids[p.id] {
			t.Fatalf("two connections got the ID %s", p.id)
		}
		ids[p.id] = true
	}
	s.access.waitFor(t, "CONNECT for every ID", func(lines []accessLine) (accessLine, bool) {
		count := 0
		for _, l := range lines {
			if l.EventType == "CONNECT" && ids[l.ConnectionID] {
				count++
			}
		}
		return accessLine{}, count == n
	})
	for i, p := range peers {
		probe := fmt.Sprintf(`{"type":"probe","n":%d}`, i)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := s.Clients.ManagementAPI.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(p.id), Data: []byte(probe),
		})
		if err != nil {
			cancel()
			t.Fatalf("post to %s: %v", p.id, err)
		}
		_, data, err := p.ws.Read(ctx)
		cancel()
		if err != nil || string(data) != probe {
			t.Errorf("%s (ID %s) read %s, %v; want the probe posted to its ID, %s", p.name, p.id, data, err, probe)
		}
	}
}
