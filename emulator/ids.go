package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// newID returns an identifier shaped like API Gateway's connectionId, requestId and
// messageId: the URL-safe base64 of 11 random bytes, 16 characters ending in "=".
func newID() string {
	var b [11]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.URLEncoding.EncodeToString(b[:])
}

// newAPIID returns a random 10-character lowercase API ID like "dl7ptocha9".
func newAPIID() string {
	return strings.ToLower(rand.Text()[:10])
}

// newTraceID returns an X-Amzn-Trace-Id header value for a request received at t.
func newTraceID(t time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s", t.Unix(), hex.EncodeToString(b[:]))
}

// clfLayout is the Common Log Format of requestTime, e.g. "20/Jan/2024:11:55:08 +0000".
const clfLayout = "02/Jan/2006:15:04:05 -0700"

// clfTime formats t like the requestTime of an API Gateway event.
func clfTime(t time.Time) string {
	return t.UTC().Format(clfLayout)
}

// isoTime formats t like the connectedAt and lastActiveAt of GetConnection.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// newUUID returns a Lambda request ID (AwsRequestID).
func newUUID() string {
	return uuid.NewString()
}
