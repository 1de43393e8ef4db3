package turn_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/slsrtc/slsrtc/turn"
)

func ExampleConfig_ICEServers() {
	// At cold start, from the function's environment (turn.LoadConfig(os.Getenv)).
	c, err := turn.ParseConfig(turn.Settings{
		STUNURLs: "stun:turn.example.com:3478",
		TURNURLs: "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:443?transport=tcp",
		TTL:      "3600",
		Secrets:  `{"current":"a-random-string-of-at-least-32-bytes","previous":"the-secret-being-rotated-out-of-use"}`,
	})
	if err != nil {
		panic(err)
	}

	// For {"action":"iceservers"} from connection L0SM9cOFvHcCIhw=:
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	servers, ttl, err := c.ICEServers("L0SM9cOFvHcCIhw=", now)
	if err != nil {
		panic(err)
	}
	frame, _ := json.MarshalIndent(map[string]any{
		"type":       "ice-servers",
		"iceServers": servers,
		"relay":      c.HasTURN(),
		"ttlSeconds": int(ttl / time.Second),
	}, "", "  ")
	fmt.Println(string(frame))
	// Output:
	// {
	//   "iceServers": [
	//     {
	//       "urls": [
	//         "stun:turn.example.com:3478"
	//       ]
	//     },
	//     {
	//       "urls": [
	//         "turn:turn.example.com:3478?transport=udp",
	//         "turns:turn.example.com:443?transport=tcp"
	//       ],
	//       "username": "1772370000:L0SM9cOFvHcCIhw=",
	//       "credential": "iOwDbn5w1WlB9+r5sh9BOEMwRu0="
	//     }
	//   ],
	//   "relay": true,
	//   "ttlSeconds": 3600,
	//   "type": "ice-servers"
	// }
}
