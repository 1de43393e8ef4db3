package turn_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pion/stun/v4"

	"github.com/slsrtc/slsrtc/turn"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in        string
		want      turn.URL
		canonical string // "" when in is canonical
	}{
		{"stun:stun.example.com", turn.URL{Scheme: "stun", Host: "stun.example.com"}, ""},
		{"stun:stun.example.com:3478", turn.URL{Scheme: "stun", Host: "stun.example.com", Port: 3478}, ""},
		{"stuns:stun.example.com:5349", turn.URL{Scheme: "stuns", Host: "stun.example.com", Port: 5349}, ""},
		{"stun:192.0.2.1:19302", turn.URL{Scheme: "stun", Host: "192.0.2.1", Port: 19302}, ""},
		{"stun:[2001:db8::1]:3478", turn.URL{Scheme: "stun", Host: "2001:db8::1", Port: 3478}, ""},
		{"stun:[::1]", turn.URL{Scheme: "stun", Host: "::1"}, ""},
		{"turn:turn.example.com", turn.URL{Scheme: "turn", Host: "turn.example.com"}, ""},
		{"turn:turn.example.com:3478?transport=udp", turn.URL{Scheme: "turn", Host: "turn.example.com", Port: 3478, Transport: "udp"}, ""},
		{"turn:turn.example.com?transport=tcp", turn.URL{Scheme: "turn", Host: "turn.example.com", Transport: "tcp"}, ""},
		{"turns:turn.example.com:443?transport=tcp", turn.URL{Scheme: "turns", Host: "turn.example.com", Port: 443, Transport: "tcp"}, ""},
		{"turns:turn.example.com:5349?transport=udp", turn.URL{Scheme: "turns", Host: "turn.example.com", Port: 5349, Transport: "udp"}, ""},
		{"turn:[2001:db8::1]:3478?transport=udp", turn.URL{Scheme: "turn", Host: "2001:db8::1", Port: 3478, Transport: "udp"}, ""},
		{"turn:127.0.0.1:1", turn.URL{Scheme: "turn", Host: "127.0.0.1", Port: 1}, ""},
		{"turn:localhost:65535", turn.URL{Scheme: "turn", Host: "localhost", Port: 65535}, ""},
		{"turn:a-b.c1.example", turn.URL{Scheme: "turn", Host: "a-b.c1.example"}, ""},
		{"turn:3com.example", turn.URL{Scheme: "turn", Host: "3com.example"}, ""},
		// Case-insensitive parts come out in lower case.
		{"TURN:Turn.Example.COM:3478?Transport=UDP", turn.URL{Scheme: "turn", Host: "turn.example.com", Port: 3478, Transport: "udp"},
			"turn:turn.example.com:3478?transport=udp"},
		{"STUNS:[2001:DB8::1]", turn.URL{Scheme: "stuns", Host: "2001:db8::1"}, "stuns:[2001:db8::1]"},
		// Leading zeros of a port are dropped; an IPv6 address is compressed.
		{"stun:example.com:03478", turn.URL{Scheme: "stun", Host: "example.com", Port: 3478}, "stun:example.com:3478"},
		{"stun:[2001:db8:0:0:0:0:0:1]", turn.URL{Scheme: "stun", Host: "2001:db8::1"}, "stun:[2001:db8::1]"},
		{"stun:[::ffff:192.0.2.1]", turn.URL{Scheme: "stun", Host: "::ffff:192.0.2.1"}, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := turn.ParseURL(tc.in)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseURL = %+v, want %+v", got, tc.want)
			}
			canonical := tc.canonical
			if canonical == "" {
				canonical = tc.in
			}
			if s := got.String(); s != canonical {
				t.Errorf("String() = %q, want %q", s, canonical)
			}
		})
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, why string // why: a word the error must contain
	}{
		{"", "not a URL"},
		{"turn.example.com", "not a URL"},
		{"http://turn.example.com", "scheme"},
		{"turnx:turn.example.com", "scheme"},
		{":turn.example.com", "scheme"},
		{"turn://turn.example.com", "//"},
		{"turn:user@turn.example.com", "user information"},
		{"turn:user:pass@turn.example.com", "user information"},
		{"turn:turn.example.com/", "path"},
		{"turn:turn.example.com:3478/x", "path"},
		{"turn:turn.example.com#x", "fragment"},
		{"turn:", "no host"},
		{"turn::3478", "no host"},
		{"turn:turn.example.com:", "no port"},
		{"turn:turn.example.com:0", "port"},
		{"turn:turn.example.com:65536", "port"},
		{"turn:turn.example.com:123456", "port"},
		{"turn:turn.example.com:-1", "port"},
		{"turn:turn.example.com:+1", "port"},
		{"turn:turn.example.com:34 78", "port"},
		{"turn:turn.example.com:x", "port"},
		{"turn:2001:db8::1", "brackets"},
		{"turn:::1", "brackets"},
		{"turn:[2001:db8::1", "without ]"},
		{"turn:[2001:db8::1]3478", "after ]"},
		{"turn:[2001:db8::1]:", "no port"},
		{"turn:[192.0.2.1]", "brackets"},
		{"turn:[fe80::1%25eth0]", "zone"},
		{"turn:[fe80::1%eth0]", "zone"},
		{"turn:[]", "brackets"},
		{"turn:[v1.x]", "brackets"},
		{"turn:turn_server.example.com", "DNS name"},
		{"turn:turn example.com", "DNS name"},
		{"turn:türn.example.com", "DNS name"},
		{"turn:turn%2eexample.com", "DNS name"},
		{"turn:turn..example.com", "empty label"},
		{"turn:.example.com", "empty label"},
		{"turn:turn.example.com.", "empty label"},
		{"turn:-turn.example.com", "hyphen"},
		{"turn:turn-.example.com", "hyphen"},
		{"turn:" + strings.Repeat("a", 64) + ".example.com", "63"},
		{"turn:" + strings.Repeat("a.", 127) + "com", "253"},
		{"turn:192.0.2.256", "IPv4"},
		{"turn:01.2.3.4", "IPv4"},
		{"turn:1.2.3", "IPv4"},
		{"turn:12345", "IPv4"},
		{"stun:stun.example.com?transport=udp", "STUN URL"},
		{"stuns:stun.example.com?transport=tcp", "STUN URL"},
		{"turn:turn.example.com?", "query"},
		{"turn:turn.example.com?transport", "query"},
		{"turn:turn.example.com?transport=", "transport"},
		{"turn:turn.example.com?transport=sctp", "transport"},
		{"turn:turn.example.com?transport=tls", "transport"},
		{"turn:turn.example.com?transport=udp&x=1", "transport"},
		{"turn:turn.example.com?transport=udp?transport=tcp", "transport"},
		{"turn:turn.example.com?proto=udp", "query"},
		{" turn:turn.example.com", "scheme"},
		{"turn:turn.example.com ", "DNS name"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := turn.ParseURL(tc.in)
			if err == nil {
				t.Fatalf("ParseURL = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("ParseURL: %q, want an error that says %q", err, tc.why)
			}
			if !strings.HasPrefix(err.Error(), strconv.Quote(tc.in)+": ") {
				t.Errorf("ParseURL: %q does not quote the URL first", err)
			}
		})
	}
}

// FuzzParseURL feeds ParseURL any string. It never panics; what it accepts
// is a URL of one of the four schemes with a host, a transport only on TURN
// URLs, whose String is canonical (parses back to the same URL, and is its
// own String); and pion's parser (what a Go client configured from the JSON
// runs) reads the same scheme, host, port and transport from it.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"stun:stun.example.com", "stun:stun.example.com:3478", "stuns:[2001:db8::1]:5349",
		"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp",
		"TURN:Turn.Example.COM?Transport=UDP", "turn:192.0.2.1", "turn:[::ffff:192.0.2.1]",
		"turn:2001:db8::1", "turn:[fe80::1%25eth0]", "turn://x", "turn:u@x", "turn:x:0",
		"turn:x:65536", "turn:x?transport=sctp", "stun:x?transport=udp", "turn:01.2.3.4", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := turn.ParseURL(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `"`) {
				t.Fatalf("error %q does not start with the quoted URL", err)
			}
			return
		}
		switch {
		case u.Scheme != turn.SchemeSTUN && u.Scheme != turn.SchemeSTUNS && !u.IsTURN():
			t.Fatalf("ParseURL(%q): scheme %q", s, u.Scheme)
		case u.Host == "":
			t.Fatalf("ParseURL(%q): no host", s)
		case u.Port < 0 || u.Port > 65535:
			t.Fatalf("ParseURL(%q): port %d", s, u.Port)
		case u.Transport != "" && !u.IsTURN():
			t.Fatalf("ParseURL(%q): transport %q on a STUN URL", s, u.Transport)
		case u.Transport != "" && u.Transport != turn.TransportUDP && u.Transport != turn.TransportTCP:
			t.Fatalf("ParseURL(%q): transport %q", s, u.Transport)
		}
		canonical := u.String()
		again, err := turn.ParseURL(canonical)
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, whose String %q does not parse: %v", s, u, canonical, err)
		}
		if again != u || again.String() != canonical {
			t.Fatalf("ParseURL(%q) = %+v; its String %q parses to %+v", s, u, canonical, again)
		}
		checkPion(t, u)
	})
}

// checkPion checks that pion's URI parser reads u's String as u.
func checkPion(t *testing.T, u turn.URL) {
	t.Helper()
	p, err := stun.ParseURI(u.String())
	if err != nil {
		t.Fatalf("pion cannot parse %q: %v", u, err)
	}
	wantPort := u.Port
	if wantPort == 0 {
		wantPort = 3478
		if u.Scheme == turn.SchemeSTUNS || u.Scheme == turn.SchemeTURNS {
			wantPort = 5349
		}
	}
	if p.Scheme.String() != u.Scheme || p.Host != u.Host || p.Port != wantPort {
		t.Fatalf("pion reads %q as %s %s %d", u, p.Scheme, p.Host, p.Port)
	}
	if u.Transport != "" && p.Proto.String() != u.Transport {
		t.Fatalf("pion reads %q with transport %s", u, p.Proto)
	}
}

// TestURLsPionReads: every URL of TestParseURL reads the same in pion.
func TestURLsPionReads(t *testing.T) {
	for _, s := range []string{
		"stun:stun.example.com", "stuns:stun.example.com:5349", "stun:[2001:db8::1]:3478",
		"turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:443?transport=tcp",
		"turns:turn.example.com:5349?transport=udp", "turn:[2001:db8::1]:3478?transport=udp", "turn:127.0.0.1:1",
	} {
		u, err := turn.ParseURL(s)
		if err != nil {
			t.Fatal(err)
		}
		checkPion(t, u)
	}
}
