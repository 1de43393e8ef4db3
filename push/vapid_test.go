package push_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
)

// Two key pairs for tests, made with crypto/ecdh.
const (
	testPublic   = "BHC8eW6ms-87kk7-zCaCPBRCwrhj2l5vLBCUom_7cWFGFi-29VO1pcqIt3aGomhkkpUy9mV-RrjWebjWCY7v_bo"
	testPrivate  = "XuDfjXqs02z9y7LZyjTSFNwGFMF1MJLgtTKOpQueebk"
	otherPublic  = "BPrkkGXDwRatCss92w5HGSizeG5K6Wi8sOHyTOfTO6RQG6BD5mNfHKkV_PxTYjU7-4t0eVlmtXNcJDWxoofWkrI"
	otherPrivate = "DgnPPsAXF3l1C-A1CM9gAMFW2NWMneOKnoVhcaoyfpk"
)

func secret(public, private, subject string) string {
	b, _ := json.Marshal(map[string]string{"publicKey": public, "privateKey": private, "subject": subject})
	return string(b)
}

func TestParseVAPID(t *testing.T) {
	for _, tc := range []struct {
		name, in, subject string
	}{
		{"mailto", secret(testPublic, testPrivate, "mailto:ops@example.com"), "mailto:ops@example.com"},
		{"https", secret(testPublic, testPrivate, "https://slsrtc.example.com/contact"), "https://slsrtc.example.com/contact"},
		{"padded keys", secret(testPublic+"=", testPrivate+"=", "mailto:ops@example.com"), "mailto:ops@example.com"},
		{"white space around", "\n " + secret(testPublic, testPrivate, "mailto:ops@example.com") + " \n", "mailto:ops@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := push.ParseVAPID(tc.in)
			if err != nil {
				t.Fatalf("ParseVAPID: %v", err)
			}
			if v.PublicKey() != testPublic || v.Subject() != tc.subject {
				t.Errorf("ParseVAPID = %v", v)
			}
			again, err := push.ParseVAPID(v.Secret())
			if err != nil || again.PublicKey() != testPublic {
				t.Errorf("ParseVAPID(Secret()) = %v, %v", again, err)
			}
		})
	}
}

func TestParseVAPIDRefuses(t *testing.T) {
	const subject = "mailto:ops@example.com"
	priv, _ := base64.RawURLEncoding.DecodeString(testPrivate)
	zero := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	order := base64.RawURLEncoding.EncodeToString([]byte{ // the group order n: out of range
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	})
	pub, _ := base64.RawURLEncoding.DecodeString(testPublic)
	offCurve := append([]byte(nil), pub...)
	offCurve[64] ^= 1
	for _, tc := range []struct {
		name string
		in   string
		want error // nil: only a shape error
	}{
		{"empty", "", nil},
		{"not JSON", testPrivate, nil},
		{"null", "null", nil},
		{"a list", "[]", nil},
		{"trailing data", secret(testPublic, testPrivate, subject) + "{}", nil},
		{"an unknown key", `{"publicKey":"` + testPublic + `","privateKey":"` + testPrivate + `","subject":"` + subject + `","previous":"x"}`, nil},
		{"a key in another case", `{"PublicKey":"` + testPublic + `","privateKey":"` + testPrivate + `","subject":"` + subject + `"}`, nil},
		{"a number", `{"publicKey":1,"privateKey":"` + testPrivate + `","subject":"` + subject + `"}`, nil},
		{"no publicKey", `{"privateKey":"` + testPrivate + `","subject":"` + subject + `"}`, nil},
		{"no privateKey", `{"publicKey":"` + testPublic + `","subject":"` + subject + `"}`, nil},
		{"no subject", `{"publicKey":"` + testPublic + `","privateKey":"` + testPrivate + `"}`, nil},
		{"privateKey not base64url", secret(testPublic, "#"+testPrivate[1:], subject), push.ErrVAPIDKey},
		{"privateKey of 31 bytes", secret(testPublic, base64.RawURLEncoding.EncodeToString(priv[:31]), subject), push.ErrVAPIDKey},
		{"privateKey zero", secret(testPublic, zero, subject), push.ErrVAPIDKey},
		{"privateKey the group order", secret(testPublic, order, subject), push.ErrVAPIDKey},
		{"publicKey of 64 bytes", secret(base64.RawURLEncoding.EncodeToString(pub[1:]), testPrivate, subject), push.ErrVAPIDKey},
		{"publicKey off the curve", secret(base64.RawURLEncoding.EncodeToString(offCurve), testPrivate, subject), push.ErrVAPIDKey},
		{"publicKey of the other pair", secret(otherPublic, testPrivate, subject), push.ErrVAPIDMismatch},
		{"privateKey of the other pair", secret(testPublic, otherPrivate, subject), push.ErrVAPIDMismatch},
		{"the keys swapped", secret(testPrivate, testPublic, subject), push.ErrVAPIDKey},
		{"subject a bare address", secret(testPublic, testPrivate, "ops@example.com"), push.ErrVAPIDSubject},
		{"subject http", secret(testPublic, testPrivate, "http://example.com"), push.ErrVAPIDSubject},
		{"subject mailto with a name", secret(testPublic, testPrivate, "mailto:Ops <ops@example.com>"), push.ErrVAPIDSubject},
		{"subject mailto without an address", secret(testPublic, testPrivate, "mailto:"), push.ErrVAPIDSubject},
		{"subject mailto localhost", secret(testPublic, testPrivate, "mailto:admin@localhost"), push.ErrVAPIDSubject},
		{"subject mailto twice", secret(testPublic, testPrivate, "mailto:mailto:ops@example.com"), push.ErrVAPIDSubject},
		{"subject https without a host", secret(testPublic, testPrivate, "https:///contact"), push.ErrVAPIDSubject},
		{"subject https localhost", secret(testPublic, testPrivate, "https://localhost/"), push.ErrVAPIDSubject},
		{"subject https with user information", secret(testPublic, testPrivate, "https://a:b@example.com/"), push.ErrVAPIDSubject},
		{"subject too long", secret(testPublic, testPrivate, "https://example.com/"+strings.Repeat("a", push.MaxSubjectLength)), push.ErrVAPIDSubject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := push.ParseVAPID(tc.in)
			if err == nil {
				t.Fatalf("ParseVAPID = %v, want an error", v)
			}
			for _, sentinel := range []error{push.ErrVAPIDKey, push.ErrVAPIDMismatch, push.ErrVAPIDSubject} {
				if errors.Is(err, sentinel) != (sentinel == tc.want) {
					t.Errorf("ParseVAPID: %v; wraps %v: %v", err, sentinel, !(sentinel == tc.want))
				}
			}
			for _, key := range []string{testPrivate, otherPrivate, testPrivate[10:30]} {
				if strings.Contains(err.Error(), key) {
					t.Errorf("error %q quotes a private key", err)
				}
			}
		})
	}
}

func TestNewVAPID(t *testing.T) {
	v, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	w, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if v.PublicKey() == w.PublicKey() {
		t.Error("two new key pairs are the same")
	}
	again, err := push.ParseVAPID(v.Secret())
	if err != nil || again.PublicKey() != v.PublicKey() || again.Secret() != v.Secret() {
		t.Errorf("ParseVAPID(Secret()) = %v, %v", again, err)
	}
	if _, err := push.NewVAPID("ops@example.com"); !errors.Is(err, push.ErrVAPIDSubject) {
		t.Errorf("NewVAPID with a bare address: %v, want ErrVAPIDSubject", err)
	}
}

func TestWithSubject(t *testing.T) {
	v, err := push.ParseVAPID(secret(testPublic, testPrivate, "mailto:ops@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := v.WithSubject("https://example.com/contact")
	if err != nil || w.Subject() != "https://example.com/contact" || w.PublicKey() != testPublic || v.Subject() != "mailto:ops@example.com" {
		t.Fatalf("WithSubject = %v, %v; want the same key, the new subject, v unchanged", w, err)
	}
	if _, err := v.WithSubject("mailto:root@localhost"); !errors.Is(err, push.ErrVAPIDSubject) {
		t.Errorf("WithSubject(a local address) = %v, want ErrVAPIDSubject", err)
	}
}

func TestVAPIDHidesPrivateKey(t *testing.T) {
	v, err := push.ParseVAPID(secret(testPublic, testPrivate, "mailto:ops@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, v); strings.Contains(s, testPrivate) || !strings.Contains(s, testPublic) {
			t.Errorf("Sprintf(%q) = %s", format, s)
		}
	}
	if b, _ := json.Marshal(v); strings.Contains(string(b), testPrivate) {
		t.Errorf("json.Marshal = %s", b)
	}
}
