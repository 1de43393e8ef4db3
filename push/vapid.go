package push

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// MaxSubjectLength bounds a VAPID subject, in bytes.
const MaxSubjectLength = 256

// VAPID is the application server's identity toward push services
// (Voluntary Application Server Identification, RFC 8292): a P-256 key pair
// and a contact. The page subscribes with the public key as its
// applicationServerKey; the push service then accepts messages for that
// subscription only with a JWT signed by the private key. Its String and
// GoString never show the private key.
type VAPID struct {
	key     *ecdh.PrivateKey
	public  string // base64url of the uncompressed point
	subject string
}

// Errors of ParseVAPID and NewVAPID. Their detail never quotes the secret.
var (
	// ErrVAPIDKey: a key is not base64url, the public key is not an
	// uncompressed P-256 point on the curve, or the private key is not a
	// 32-byte scalar in [1, n-1].
	ErrVAPIDKey = errors.New("push: VAPID key is not a valid P-256 key")
	// ErrVAPIDMismatch: the private key's public key is not publicKey.
	ErrVAPIDMismatch = errors.New("push: VAPID private key does not match the public key")
	// ErrVAPIDSubject: the subject is not a mailto: URI with an e-mail
	// address, or an https: URL, on a public domain, of at most
	// MaxSubjectLength bytes.
	ErrVAPIDSubject = errors.New("push: VAPID subject is not a mailto: or https: contact")
)

// vapidSecret is the JSON of the Secrets Manager secret.
type vapidSecret struct {
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
	Subject    string `json:"subject"`
}

// ParseVAPID reads the VAPID identity from the SecretString of a Secrets
// Manager secret, handed to the function in an environment variable the way
// auth.ParseSecrets' secret is. The SecretString is a JSON object:
//
//	{"publicKey":"BDd3…","privateKey":"M8J0…","subject":"mailto:ops@example.com"}
//
// publicKey is the uncompressed P-256 point (65 bytes) and privateKey the
// 32-byte scalar, each base64url (unpadded, as cmd/vapid and the web-push
// tools print them; padding is accepted). subject is how the push service's
// operator can reach the sender: a mailto: URI or an https: URL. All three
// are required, and the private key must be the public key's.
//
// It returns an error for anything else than such an object (other keys
// included), wrapping ErrVAPIDKey, ErrVAPIDMismatch or ErrVAPIDSubject for
// those reasons. No error contains any part of s.
func ParseVAPID(s string) (*VAPID, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return nil, errors.New(`push: VAPID secret is not a JSON object {"publicKey":"…","privateKey":"…","subject":"…"}`)
	}
	var sec vapidSecret
	for key, raw := range obj {
		var dst *string
		switch key {
		case "publicKey":
			dst = &sec.PublicKey
		case "privateKey":
			dst = &sec.PrivateKey
		case "subject":
			dst = &sec.Subject
		default:
			// The key is not quoted: a malformed secret could be a key.
			return nil, errors.New(`push: VAPID secret has a key other than "publicKey", "privateKey" and "subject"`)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("push: VAPID secret: %q is not a string", key)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"publicKey", sec.PublicKey}, {"privateKey", sec.PrivateKey}, {"subject", sec.Subject},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("push: VAPID secret has no %q", f.name)
		}
	}
	priv, err := decodeKey(sec.PrivateKey)
	if err != nil || len(priv) != 32 {
		return nil, fmt.Errorf("push: privateKey is not 32 base64url bytes: %w", ErrVAPIDKey)
	}
	key, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("push: privateKey is not a P-256 scalar: %w", ErrVAPIDKey)
	}
	pub, err := decodeKey(sec.PublicKey)
	if err != nil || len(pub) != P256dhLength || pub[0] != 4 {
		return nil, fmt.Errorf("push: publicKey is not 65 base64url bytes of an uncompressed point: %w", ErrVAPIDKey)
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return nil, fmt.Errorf("push: publicKey is not on the curve: %w", ErrVAPIDKey)
	}
	if !bytes.Equal(key.PublicKey().Bytes(), pub) {
		return nil, ErrVAPIDMismatch
	}
	if err := checkSubject(sec.Subject); err != nil {
		return nil, err
	}
	return newVAPID(key, sec.Subject), nil
}

// NewVAPID generates a new key pair for subject (see ParseVAPID). Returns
// ErrVAPIDSubject.
func NewVAPID(subject string) (*VAPID, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("push: generate a VAPID key: %w", err)
	}
	return newVAPID(key, subject), nil
}

func newVAPID(key *ecdh.PrivateKey, subject string) *VAPID {
	return &VAPID{
		key:     key,
		public:  base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()),
		subject: subject,
	}
}

// PublicKey returns the public key, base64url without padding: the page's
// applicationServerKey for pushManager.subscribe, and the k of the
// Authorization header.
func (v *VAPID) PublicKey() string { return v.public }

// Subject returns the contact the JWTs carry as sub.
func (v *VAPID) Subject() string { return v.subject }

// WithSubject returns the same key pair with another subject (see
// ParseVAPID): for a deployment that sets the contact apart from the
// secret. Returns ErrVAPIDSubject.
func (v *VAPID) WithSubject(subject string) (*VAPID, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	return newVAPID(v.key, subject), nil
}

// Secret returns the JSON that ParseVAPID reads, private key included: what
// to store in Secrets Manager.
func (v *VAPID) Secret() string {
	b, err := json.Marshal(vapidSecret{
		PublicKey:  v.public,
		PrivateKey: base64.RawURLEncoding.EncodeToString(v.key.Bytes()),
		Subject:    v.subject,
	})
	if err != nil {
		panic(err) // three strings always marshal
	}
	return string(b)
}

// String describes v without its private key.
func (v *VAPID) String() string {
	return fmt.Sprintf("VAPID{publicKey: %s, subject: %s}", v.public, v.subject)
}

// GoString is String, so that %#v does not print the private key either.
func (v *VAPID) GoString() string { return v.String() }

// privateKey returns the private key base64url, for webpush-go.
func (v *VAPID) privateKey() string {
	return base64.RawURLEncoding.EncodeToString(v.key.Bytes())
}

// checkSubject returns ErrVAPIDSubject unless subject is "mailto:" and a
// bare e-mail address on a public domain, or an https: URL with a public
// host name (see ErrVAPIDSubject). Push services refuse subjects on local
// names (Apple's refuses mailto:…@localhost).
func checkSubject(subject string) error {
	if len(subject) > MaxSubjectLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrVAPIDSubject, MaxSubjectLength)
	}
	if addr, ok := strings.CutPrefix(subject, "mailto:"); ok {
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Name != "" || a.Address != addr {
			return fmt.Errorf("%w: mailto: without a bare e-mail address", ErrVAPIDSubject)
		}
		domain := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
		if !isHostName(domain) || localName(domain) != "" {
			return fmt.Errorf("%w: the address's domain is not a public name", ErrVAPIDSubject)
		}
		return nil
	}
	if strings.HasPrefix(subject, "https:") {
		u, err := url.Parse(subject)
		if err != nil || u.Opaque != "" || u.User != nil || u.Port() != "" {
			return fmt.Errorf("%w: not an https URL with a host", ErrVAPIDSubject)
		}
		host := strings.ToLower(u.Hostname())
		if !isHostName(host) || localName(host) != "" {
			return fmt.Errorf("%w: the URL's host is not a public name", ErrVAPIDSubject)
		}
		return nil
	}
	return fmt.Errorf("%w: neither mailto: nor https:", ErrVAPIDSubject)
}
