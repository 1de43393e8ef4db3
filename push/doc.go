// Package push sends Web Push notifications: it tells a person who follows a
// room, with the room's page closed, that someone entered it.
//
// The browser subscribes with pushManager.subscribe, giving the VAPID public
// key as its applicationServerKey, and the page sends the server the
// PushSubscription's JSON. The server checks it (ParseSubscription,
// Subscription.Validate) and stores it; when someone enters the room, it
// sends each stored subscription a message (RoomEntered, Sender.Send or
// Sender.SendAll), which the push service of the browser's vendor delivers
// to the browser's service worker:
//
//	server --POST endpoint (RFC 8030)--> push service --> browser
//	        Authorization: vapid t=JWT, k=key (RFC 8292)
//	        body: aes128gcm, encrypted to the subscription's keys (RFC 8291)
//
// # Accepting endpoints from clients
//
// An endpoint is a URL a client chose, which the server will POST to: a
// request forgery (SSRF) waiting to happen. Validate refuses endpoints that
// are not https on port 443, carry user information, are too long, or name
// a loopback, private, link-local or otherwise non-public address or a
// local name (localhost, .internal, ...); the Sender's HTTP client
// (NewHTTPClient) checks again each address it connects to, after DNS
// resolution, so a name that later resolves to 127.0.0.1 or
// 169.254.169.254 is refused too, and it follows no redirect.
// Policy.Hosts can restrict endpoints to the known push services.
// docs/push.md has the threat model.
//
// # Errors
//
// Validate's errors wrap one *Invalid (ErrEndpointPort, ErrP256dh, ...),
// with a stable Code; Send's are *SendError, whose Reason is ErrGone (delete
// the subscription), ErrRejected or ErrUnavailable; StatusOf maps them to
// Sent, Gone or Failed. No error quotes an endpoint, a key or a payload.
//
// # Library
//
// The encryption and the VAPID JWT are github.com/SherClockHolmes/webpush-go
// (v1.4.0). This package validates what it is given, pads every body to
// BodySize, derives the Topic, classifies answers and retries; see Sender
// for what it works around.
package push
