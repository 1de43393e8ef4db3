package push

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Sizes of a push message body. Every body is exactly BodySize bytes: one
// aes128gcm record (RFC 8188, RFC 8291), padded so that its length says
// nothing about the payload.
const (
	// BodySize is the size of every message body Send posts: 3 KB, under the
	// 4096 bytes every push service accepts (RFC 8030, section 7.2).
	BodySize = 3072
	// headerSize is the aes128gcm header: salt (16), rs (4), idlen (1) and
	// the sender's ephemeral public key (65).
	headerSize = 16 + 4 + 1 + 65
	// MaxPayloadSize is the largest payload: BodySize less the header, the
	// padding delimiter (1) and the AES-GCM tag (16).
	MaxPayloadSize = BodySize - headerSize - 1 - 16
)

const (
	// MaxUserNameRunes is where RoomEntered cuts a user name: the protocol's
	// bound on names (64 characters).
	MaxUserNameRunes = 64
	// MaxRoomIDLength bounds the room ID RoomEntered accepts, in bytes.
	MaxRoomIDLength = 128
	// MaxURLLength bounds the URL RoomEntered accepts, in bytes.
	MaxURLLength = 1024
	// maxTopicKeyLength bounds Message.Topic, in bytes.
	maxTopicKeyLength = 256
)

// ErrMessage is wrapped by the errors RoomEntered and NewMessage return for a
// message that cannot be sent: a payload over MaxPayloadSize, a field that is
// empty or too long.
var ErrMessage = errors.New("push: invalid message")

// A Message is what Send delivers to a subscription's service worker.
type Message struct {
	// Payload is what the service worker's push event holds (event.data), at
	// most MaxPayloadSize bytes; it is encrypted to the subscription's keys.
	Payload []byte
	// Topic, if not empty, is what the message is about (a room ID): while
	// the push service still holds an undelivered message with the same
	// Topic for a subscription, a newer one replaces it (RFC 8030, section
	// 5.4). The Topic header is derived from it and the endpoint (see
	// topicHeader), so the push service sees neither.
	Topic string
}

// Notification is the JSON payload of a room-entered message:
//
//	{"type":"room-entered","roomID":"3f1c2a9e-…","userName":"alice","url":"https://app.example.com/?room=3f1c2a9e-…"}
//
// userName and url are omitted when empty.
type Notification struct {
	Type     string `json:"type"`
	RoomID   string `json:"roomID"`
	UserName string `json:"userName,omitempty"`
	URL      string `json:"url,omitempty"`
}

// TypeRoomEntered is the type of the notification that someone entered a
// room.
const TypeRoomEntered = "room-entered"

// RoomEntered returns the message telling a subscriber that userName entered
// roomID, which the page at roomURL opens, with the room as its Topic.
// userName is cut to MaxUserNameRunes characters (the protocol allows no
// more; a longer one ends with "…"), and invalid UTF-8 in it is replaced.
// Returns ErrMessage for an empty room ID, a room ID longer than
// MaxRoomIDLength bytes, or a roomURL that is longer than MaxURLLength bytes
// or not an absolute http(s) URL without user information; room ID and URL
// must be visible ASCII (a URL's other characters percent-encoded). Within
// those bounds the payload always fits in MaxPayloadSize: at worst 57 bytes
// of JSON, 2 per byte of room ID and URL (a quote or a backslash is
// escaped), 6 per character of the name (a control character is escaped as
// \u00XX), 2,745 bytes in all.
func RoomEntered(roomID, userName, roomURL string) (Message, error) {
	switch {
	case roomID == "":
		return Message{}, fmt.Errorf("%w: no room ID", ErrMessage)
	case len(roomID) > MaxRoomIDLength:
		return Message{}, fmt.Errorf("%w: room ID longer than %d bytes", ErrMessage, MaxRoomIDLength)
	case !isVisibleASCII(roomID):
		return Message{}, fmt.Errorf("%w: room ID has characters other than visible ASCII", ErrMessage)
	case len(roomURL) > MaxURLLength:
		return Message{}, fmt.Errorf("%w: URL longer than %d bytes", ErrMessage, MaxURLLength)
	case !isVisibleASCII(roomURL):
		return Message{}, fmt.Errorf("%w: URL has characters other than visible ASCII (percent-encode them)", ErrMessage)
	}
	if roomURL != "" {
		u, err := url.Parse(roomURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return Message{}, fmt.Errorf("%w: URL is not an absolute http(s) URL", ErrMessage)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the payload is not HTML; escapes only cost bytes
	if err := enc.Encode(Notification{
		Type: TypeRoomEntered, RoomID: roomID, UserName: cutName(userName), URL: roomURL,
	}); err != nil {
		return Message{}, fmt.Errorf("push: encode a notification: %w", err)
	}
	return NewMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), roomID)
}

// NewMessage returns a Message with payload and topic. Returns ErrMessage
// for a payload longer than MaxPayloadSize, or a topic longer than 256
// bytes.
func NewMessage(payload []byte, topic string) (Message, error) {
	if len(payload) > MaxPayloadSize {
		return Message{}, fmt.Errorf("%w: payload of %d bytes, more than %d", ErrMessage, len(payload), MaxPayloadSize)
	}
	if len(topic) > maxTopicKeyLength {
		return Message{}, fmt.Errorf("%w: topic longer than %d bytes", ErrMessage, maxTopicKeyLength)
	}
	return Message{Payload: payload, Topic: topic}, nil
}

// isVisibleASCII reports whether s has only the characters from '!' to '~'.
func isVisibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

// cutName returns name with invalid UTF-8 replaced, cut to
// MaxUserNameRunes characters, the last of them "…" when it was cut.
func cutName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if utf8.RuneCountInString(name) <= MaxUserNameRunes {
		return name
	}
	n := 0
	for i := range name {
		if n == MaxUserNameRunes-1 {
			return name[:i] + "…"
		}
		n++
	}
	return name
}

// topicHeader returns the Topic header for a message about topic sent to
// endpoint: the first 24 bytes of HMAC-SHA256(key topic, endpoint),
// base64url, 32 characters, the most RFC 8030 (section 5.4) allows. It is
// the same for every message about topic to one subscription, so a newer
// one replaces an older one; it reveals nothing of the topic (a room ID is
// the room's only key), and differs between subscriptions, so the push
// service cannot tell from it that two subscriptions follow the same room.
func topicHeader(topic, endpoint string) string {
	if topic == "" {
		return ""
	}
	mac := hmac.New(sha256.New, []byte(topic))
	mac.Write([]byte(endpoint))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])
}
