package auth_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/names"
)

func TestMintVerifies(t *testing.T) {
	for _, g := range []auth.Grant{
		{},
		{Subject: "user-1"},
		{Name: "Zoë"},
		{Rooms: []string{room1}},
		{Rooms: []string{room1, room2}},
		{Create: true},
		{Subject: "user-1", Name: "Alice", Rooms: []string{room1}, Create: true},
	} {
		for _, secret := range [][]byte{current, previous} {
			token, err := auth.Mint(secret, audience, g, time.Hour, now)
			if err != nil {
				t.Fatalf("Mint(%+v): %v", g, err)
			}
			got, err := newVerifier(t).Verify(token)
			if err != nil {
				t.Fatalf("Verify(Mint(%+v)): %v", g, err)
			}
			want := g
			want.ExpiresAt = now.Add(time.Hour)
			if !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
			}
			got.ExpiresAt, want.ExpiresAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify(Mint(%+v)) = %+v", g, got)
			}
		}
	}
}

func TestMintTimes(t *testing.T) {
	// Minted at now with a 90-second ttl: valid until exp, then refused once
	// the leeway has passed too; exp is in whole seconds.
	at := now.Add(500 * time.Millisecond)
	token, err := auth.Mint(current, audience, auth.Grant{}, 90*time.Second, at)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t)
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{now, nil},
		{now.Add(90 * time.Second), nil},
		{now.Add(90*time.Second + auth.DefaultLeeway), auth.ErrExpired},
		{now.Add(-auth.DefaultLeeway), nil},
		{now.Add(-auth.DefaultLeeway - time.Second), auth.ErrNotYetValid}, // iat in the future
	} {
		v.Now = func() time.Time { return tc.at }
		g, err := v.Verify(token)
		if !errors.Is(err, tc.want) {
			t.Errorf("Verify at now%+v: %v, want %v", tc.at.Sub(now), err, tc.want)
		}
		if err == nil && !g.ExpiresAt.Equal(now.Add(90*time.Second)) {
			t.Errorf("ExpiresAt = %v, want %v", g.ExpiresAt, now.Add(90*time.Second))
		}
	}
}

func TestMintRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		secret   []byte
		audience string
		g        auth.Grant
		ttl      time.Duration
		want     error
	}{
		{"short secret", current[:auth.MinSecretLength-1], audience, auth.Grant{}, time.Hour, auth.ErrShortSecret},
		{"no secret", nil, audience, auth.Grant{}, time.Hour, auth.ErrShortSecret},
		{"no audience", current, "", auth.Grant{}, time.Hour, nil},
		{"zero ttl", current, audience, auth.Grant{}, 0, nil},
		{"negative ttl", current, audience, auth.Grant{}, -time.Hour, nil},
		{"ttl under a second", current, audience, auth.Grant{}, time.Second - 1, nil},
		{"invalid name", current, audience, auth.Grant{Name: "Аlice"}, time.Hour, names.ErrMixedScripts},
		{"empty room ID", current, audience, auth.Grant{Rooms: []string{room1, ""}}, time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token, err := auth.Mint(tc.secret, tc.audience, tc.g, tc.ttl, now)
			if err == nil {
				t.Fatalf("Mint = %q, want an error", token)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Mint: %v, want an error wrapping %v", err, tc.want)
			}
			if token != "" {
				t.Errorf("Mint returned %q with its error", token)
			}
		})
	}
}

func TestMintHeader(t *testing.T) {
	token, err := auth.Mint(current, audience, auth.Grant{}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	header, err := b64.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(header), `{"alg":"HS256","typ":"JWT"}`; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
}
