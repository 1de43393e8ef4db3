package pushservice

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// This file is the service's own reading of the three RFCs, written from
// them and from nothing the sender uses, so that a test of a sender against
// the service checks the sender against the RFCs rather than against
// itself.

var b64 = base64.RawURLEncoding

// decrypt returns the plaintext of an aes128gcm body (RFC 8188) sent to the
// user agent whose key is ua and whose auth secret is auth, with the key
// derivation of RFC 8291, section 3.4:
//
//	header   = salt(16) || rs(4) || idlen(1) || keyid(idlen = 65: as_public)
//	ecdh     = ECDH(ua_private, as_public)
//	PRK_key  = HKDF-Extract(auth_secret, ecdh)
//	IKM      = HKDF-Expand(PRK_key, "WebPush: info" || 0x00 || ua_public || as_public, 32)
//	PRK      = HKDF-Extract(salt, IKM)
//	CEK      = HKDF-Expand(PRK, "Content-Encoding: aes128gcm" || 0x00, 16)
//	NONCE    = HKDF-Expand(PRK, "Content-Encoding: nonce" || 0x00, 12)
//
// A push message is one record (RFC 8291, section 4), so the record is the
// rest of the body, no longer than rs, and its sequence number is 0 (the
// nonce is NONCE itself). The plaintext is the payload, the delimiter 0x02
// of a last record, and zeros.
func decrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	const fixed = 16 + 4 + 1
	if len(body) < fixed {
		return nil, errors.New("body is shorter than an aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if rs < 18 {
		return nil, fmt.Errorf("record size %d is under 18", rs)
	}
	if idlen != 65 || len(body) < fixed+idlen {
		return nil, fmt.Errorf("keyid of %d bytes is not an uncompressed P-256 key", idlen)
	}
	keyID := body[fixed : fixed+idlen]
	record := body[fixed+idlen:]
	if len(record) < 17 {
		return nil, errors.New("no record")
	}
	if uint32(len(record)) > rs {
		return nil, fmt.Errorf("%d bytes of records with a record size of %d: more than one record", len(record), rs)
	}
	asPublic, err := ecdh.P256().NewPublicKey(keyID)
	if err != nil {
		return nil, fmt.Errorf("keyid is not a P-256 point: %w", err)
	}
	secret, err := ua.ECDH(asPublic)
	if err != nil {
		return nil, err
	}
	info := "WebPush: info\x00" + string(ua.PublicKey().Bytes()) + string(keyID)
	prkKey, err := hkdf.Extract(sha256.New, secret, auth)
	if err != nil {
		return nil, err
	}
	ikm, err := hkdf.Expand(sha256.New, prkKey, info, 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, errors.New("the record does not decrypt (wrong keys, or altered)")
	}
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("the record's padding does not end with the last record's delimiter 0x02")
	}
	return plain[:end], nil
}

// vapid is what a valid VAPID Authorization header says.
type vapid struct {
	key     string // k, base64url
	subject string
	expires time.Time
}

// verifyVAPID checks an Authorization header against RFC 8292: the scheme
// vapid with parameters t (a JWT) and k (the key, base64url of an
// uncompressed P-256 point); t's header says ES256, its signature is k's
// ECDSA P-256 SHA-256 signature (r || s, 64 bytes; RFC 7518, section 3.4),
// aud is audience, exp is after now and at most 24 hours after it
// (section 2), and sub is a mailto: or https: URI.
func verifyVAPID(header, audience string, now time.Time) (vapid, error) {
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return vapid{}, errors.New("Authorization is not of the vapid scheme")
	}
	var t, k string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(name) {
		case "t":
			t = value
		case "k":
			k = value
		}
	}
	if t == "" || k == "" {
		return vapid{}, errors.New("Authorization lacks t or k")
	}
	keyBytes, err := b64.DecodeString(strings.TrimRight(k, "="))
	if err != nil {
		return vapid{}, errors.New("k is not base64url")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), keyBytes)
	if err != nil {
		return vapid{}, errors.New("k is not an uncompressed P-256 public key")
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return vapid{}, errors.New("t is not a compact JWS")
	}
	var head struct {
		Alg string `json:"alg"`
	}
	if raw, err := b64.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &head) != nil || head.Alg != "ES256" {
		return vapid{}, errors.New("the JWT's header is not ES256")
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return vapid{}, errors.New("the JWT's signature is not 64 bytes of base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return vapid{}, errors.New("the JWT's signature is not k's")
	}
	var claims struct {
		Aud *string  `json:"aud"`
		Exp *float64 `json:"exp"`
		Sub *string  `json:"sub"`
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		return vapid{}, errors.New("the JWT's claims are not a JSON object of the right types")
	}
	switch {
	case claims.Aud == nil || *claims.Aud != audience:
		return vapid{}, errors.New("the JWT's aud is not the push service's origin")
	case claims.Exp == nil:
		return vapid{}, errors.New("the JWT has no exp")
	}
	exp := time.Unix(int64(*claims.Exp), 0)
	switch {
	case !exp.After(now):
		return vapid{}, errors.New("the JWT has expired")
	case exp.After(now.Add(24 * time.Hour)):
		return vapid{}, errors.New("the JWT's exp is more than 24 hours away")
	case claims.Sub == nil || !(strings.HasPrefix(*claims.Sub, "mailto:") || strings.HasPrefix(*claims.Sub, "https:")):
		return vapid{}, errors.New("the JWT's sub is not a mailto: or https: URI")
	}
	return vapid{key: b64.EncodeToString(keyBytes), subject: *claims.Sub, expires: exp}, nil
}
