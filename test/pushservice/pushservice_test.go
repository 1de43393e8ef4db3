package pushservice

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example of RFC 8291, Appendix A (section 5 has the body).
var rfc8291 = struct {
	plaintext, uaPrivate, uaPublic, auth, body string
}{
	plaintext: "When I grow up, I want to be a watermelon",
	uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	uaPublic:  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A" +
		"_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfcBrowser returns the RFC example's user agent key and auth secret.
func rfcBrowser(t testing.TB) (*ecdh.PrivateKey, []byte) {
	t.Helper()
	ua, err := ecdh.P256().NewPrivateKey(mustB64(t, rfc8291.uaPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(ua.PublicKey().Bytes()); got != rfc8291.uaPublic {
		t.Fatalf("ua_public = %s, want the RFC's", got)
	}
	return ua, mustB64(t, rfc8291.auth)
}

func TestDecryptRFC8291(t *testing.T) {
	ua, auth := rfcBrowser(t)
	body := mustB64(t, rfc8291.body)
	got, err := decrypt(body, ua, auth)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(got) != rfc8291.plaintext {
		t.Errorf("decrypt = %q, want %q", got, rfc8291.plaintext)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"a flipped ciphertext bit": func(b []byte) []byte { b[len(b)-20] ^= 1; return b },
		"a flipped salt bit":       func(b []byte) []byte { b[0] ^= 1; return b },
		"record size 17":           func(b []byte) []byte { b[16], b[17], b[18], b[19] = 0, 0, 0, 17; return b },
		"record size under the record": func(b []byte) []byte {
			b[16], b[17], b[18], b[19] = 0, 0, 0, 40
			return b
		},
		"keyid of 64 bytes": func(b []byte) []byte { b[20] = 64; return b },
		"truncated header":  func(b []byte) []byte { return b[:30] },
		"no record":         func(b []byte) []byte { return b[:86] },
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := decrypt(mutate(bytes.Clone(body)), ua, auth); err == nil {
				t.Errorf("decrypt = %q, want an error", got)
			}
		})
	}
	other, _ := ecdh.P256().GenerateKey(rand.Reader)
	if _, err := decrypt(body, other, auth); err == nil {
		t.Error("decrypt with another browser's key succeeded")
	}
}

// server is a VAPID identity for hand-made requests.
type server struct {
	key *ecdsa.PrivateKey
	k   string
}

func newServer(t testing.TB) server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return server{key: key, k: b64.EncodeToString(pub)}
}

// jwt signs header and claims (JSON) with ES256.
func (s server) jwt(t testing.TB, header string, claims map[string]any) string {
	t.Helper()
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signing := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(signing))
	r, sig, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	sig.FillBytes(out[32:])
	return signing + "." + b64.EncodeToString(out)
}

const es256 = `{"typ":"JWT","alg":"ES256"}`

// request is a POST of the RFC body to sub, which every case changes.
type request struct {
	header http.Header
	body   []byte
}

func TestChecks(t *testing.T) {
	svc := New(t)
	srv := newServer(t)
	other := newServer(t)
	ua, auth := rfcBrowser(t)
	now := time.Now()
	claims := func(changes map[string]any) map[string]any {
		c := map[string]any{"aud": svc.URL(), "exp": now.Add(12 * time.Hour).Unix(), "sub": "mailto:ops@example.com"}
		for k, v := range changes {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	valid := func() request {
		h := http.Header{}
		h.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(nil))+", k="+srv.k)
		h.Set("TTL", "60")
		h.Set("Urgency", "high")
		h.Set("Topic", "abcdefghijklmnopqrstuvwxyz012345")
		h.Set("Content-Encoding", "aes128gcm")
		return request{header: h, body: mustB64(t, rfc8291.body)}
	}
	for _, tc := range []struct {
		name   string
		bound  bool // the subscription is bound to srv's key
		change func(*request)
		status int
		why    string
	}{
		{"valid", false, func(*request) {}, 201, ""},
		{"valid, bound to the key", true, func(*request) {}, 201, ""},
		{"an https subject, no Urgency or Topic", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"sub": "https://example.com/contact"}))+", k="+srv.k)
			r.header.Del("Urgency")
			r.header.Del("Topic")
		}, 201, ""},
		{"another key than the bound one", true, func(r *request) {
			r.header.Set("Authorization", "vapid t="+other.jwt(t, es256, claims(nil))+", k="+other.k)
		}, 403, "applicationServerKey"},
		{"no Authorization", false, func(r *request) { r.header.Del("Authorization") }, 401, "vapid scheme"},
		{"the WebPush scheme", false, func(r *request) {
			r.header.Set("Authorization", strings.Replace(r.header.Get("Authorization"), "vapid", "WebPush", 1))
		}, 401, "vapid scheme"},
		{"no k", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(nil)))
		}, 401, "lacks t or k"},
		{"signed by another key", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+other.jwt(t, es256, claims(nil))+", k="+srv.k)
		}, 401, "signature is not k's"},
		{"HS256", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, `{"alg":"HS256"}`, claims(nil))+", k="+srv.k)
		}, 401, "not ES256"},
		{"another aud", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"aud": "https://push.example.com"}))+", k="+srv.k)
		}, 401, "aud"},
		{"aud with the path", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"aud": svc.URL() + "/"}))+", k="+srv.k)
		}, 401, "aud"},
		{"expired", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"exp": now.Add(-time.Minute).Unix()}))+", k="+srv.k)
		}, 401, "expired"},
		{"exp 25 hours away", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"exp": now.Add(25 * time.Hour).Unix()}))+", k="+srv.k)
		}, 401, "24 hours"},
		{"no exp", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"exp": nil}))+", k="+srv.k)
		}, 401, "no exp"},
		{"no sub", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"sub": nil}))+", k="+srv.k)
		}, 401, "sub"},
		{"an http sub", false, func(r *request) {
			r.header.Set("Authorization", "vapid t="+srv.jwt(t, es256, claims(map[string]any{"sub": "http://example.com"}))+", k="+srv.k)
		}, 401, "sub"},
		{"no TTL", false, func(r *request) { r.header.Del("TTL") }, 400, "TTL"},
		{"a negative TTL", false, func(r *request) { r.header.Set("TTL", "-1") }, 400, "TTL"},
		{"an unknown Urgency", false, func(r *request) { r.header.Set("Urgency", "urgent") }, 400, "Urgency"},
		{"a Topic of 33 characters", false, func(r *request) { r.header.Set("Topic", strings.Repeat("a", 33)) }, 400, "Topic"},
		{"a Topic with a dot", false, func(r *request) { r.header.Set("Topic", "room.1") }, 400, "Topic"},
		{"aesgcm", false, func(r *request) { r.header.Set("Content-Encoding", "aesgcm") }, 415, "aes128gcm"},
		{"no Content-Encoding", false, func(r *request) { r.header.Del("Content-Encoding") }, 415, "aes128gcm"},
		{"a body of 4097 bytes", false, func(r *request) { r.body = make([]byte, MaxBody+1) }, 413, "4096"},
		{"an altered body", false, func(r *request) { r.body[len(r.body)-1] ^= 1 }, 400, "decrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := ""
			if tc.bound {
				key = srv.k
			}
			sub := svc.add(ua, auth, key)
			r := valid()
			tc.change(&r)
			before := len(svc.Refusals())
			status := post(t, svc, sub.Endpoint, r)
			if status != tc.status {
				t.Fatalf("status %d, want %d (refusals %q)", status, tc.status, svc.Refusals()[before:])
			}
			msgs := svc.Messages(sub.ID)
			if tc.status != 201 {
				refusals := svc.Refusals()[before:]
				if len(refusals) != 1 || !strings.Contains(refusals[0], tc.why) {
					t.Errorf("refusals %q, want one with %q", refusals, tc.why)
				}
				if len(msgs) != 0 {
					t.Errorf("recorded %d messages of a refused request", len(msgs))
				}
				return
			}
			if len(msgs) != 1 || string(msgs[0].Payload) != rfc8291.plaintext {
				t.Fatalf("messages %+v, want the RFC's plaintext", msgs)
			}
			if m := msgs[0]; m.TTL != 60 || m.Key != srv.k || m.BodySize != len(mustB64(t, rfc8291.body)) {
				t.Errorf("message %+v", m)
			}
		})
	}
	t.Run("unknown subscription", func(t *testing.T) {
		if status := post(t, svc, svc.URL()+"/push/nosuchsubscription", valid()); status != 404 {
			t.Errorf("status %d, want 404", status)
		}
	})
	t.Run("unsubscribed", func(t *testing.T) {
		sub := svc.add(ua, auth, "")
		svc.Unsubscribe(sub.ID)
		if status := post(t, svc, sub.Endpoint, valid()); status != 410 {
			t.Errorf("status %d, want 410", status)
		}
	})
}

func post(t *testing.T, svc *Service, endpoint string, r request) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.header
	resp, err := svc.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAnswers(t *testing.T) {
	svc := New(t)
	srv := newServer(t)
	ua, auth := rfcBrowser(t)
	sub := svc.add(ua, auth, "")
	req := func() request {
		h := http.Header{}
		h.Set("Authorization", "vapid t="+srv.jwt(t, es256, map[string]any{
			"aud": svc.URL(), "exp": time.Now().Add(time.Hour).Unix(), "sub": "mailto:ops@example.com",
		})+", k="+srv.k)
		h.Set("TTL", "0")
		h.Set("Content-Encoding", "aes128gcm")
		return request{header: h, body: mustB64(t, rfc8291.body)}
	}
	svc.Queue(sub.ID, Answer{Status: 429, RetryAfter: "7"}, Answer{Status: 500})
	for i, want := range []int{429, 500, 201} {
		if got := post(t, svc, sub.Endpoint, req()); got != want {
			t.Errorf("request %d: status %d, want %d", i+1, got, want)
		}
	}
	svc.Always(sub.ID, Answer{Status: 503})
	for i := range 2 {
		if got := post(t, svc, sub.Endpoint, req()); got != 503 {
			t.Errorf("request %d with Always 503: status %d", i+1, got)
		}
	}
	if n, msgs := svc.Requests(sub.ID), svc.Messages(sub.ID); n != 5 || len(msgs) != 1 {
		t.Errorf("requests %d, messages %d; want 5 and 1", n, len(msgs))
	}
}

func TestNewSubscriptionJSON(t *testing.T) {
	svc := New(t)
	sub := svc.NewSubscription()
	var js struct {
		Endpoint       string
		ExpirationTime *float64
		Keys           struct{ P256dh, Auth string }
	}
	if err := json.Unmarshal(sub.JSON, &js); err != nil {
		t.Fatal(err)
	}
	if js.Endpoint != sub.Endpoint || !strings.HasPrefix(js.Endpoint, svc.URL()+"/push/") || js.ExpirationTime != nil {
		t.Errorf("JSON %s", sub.JSON)
	}
	if !bytes.Equal(mustB64(t, js.Keys.P256dh), sub.PrivateKey.PublicKey().Bytes()) || !bytes.Equal(mustB64(t, js.Keys.Auth), sub.Auth) || len(sub.Auth) != 16 {
		t.Errorf("JSON keys %+v do not match the subscription's", js.Keys)
	}
	if !bytes.Contains(sub.JSON, []byte(`"expirationTime":null`)) {
		t.Errorf("JSON %s has no expirationTime null", sub.JSON)
	}
}
