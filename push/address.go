package push

import (
	"net/netip"
	"strings"
)

// nonPublic lists the address ranges an endpoint may not resolve to, beyond
// what netip.Addr's predicates catch (loopback, private, link-local,
// multicast, unspecified), with the name an error gives each. Sources: the
// IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890).
var nonPublic = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // 255.255.255.255 included
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},   // embeds any IPv4 address
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignments"}, // Teredo included
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2002::/16"), "6to4"}, // embeds any IPv4 address
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// addressRange returns "" when a is a public unicast address a push service
// may have, else the name of the range it is in ("loopback", "private",
// "shared (CGNAT)", ...). An IPv4-mapped IPv6 address is judged as the IPv4
// address it maps; an address with a zone is never public.
func addressRange(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.Zone() != "":
		return "scoped"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a.IsPrivate():
		if a.Is4() {
			return "private"
		}
		return "unique-local"
	case !a.IsGlobalUnicast():
		return "not unicast"
	}
	for _, r := range nonPublic {
		if r.prefix.Contains(a) {
			return r.name
		}
	}
	return ""
}

// localSuffixes are the name suffixes that never name a host on the public
// internet: RFC 6761 (localhost, invalid, test), RFC 6762 (local, mDNS),
// RFC 8375 (home.arpa), ICANN's .internal, and suffixes that DHCP and
// container platforms hand out on private networks.
var localSuffixes = []string{
	"localhost", "local", "internal", "invalid", "test", "example",
	"home.arpa", "lan", "intranet", "corp", "home", "localdomain",
}

// localName returns a reason when host (lower case, no trailing dot) is a
// name that cannot be a public push service, else "": a name in
// localSuffixes, a name of one label (resolved through search domains to an
// internal host), or a name whose last label does not begin with a letter.
// Every top-level domain begins with a letter, and resolvers read a name
// whose last label is a number as an IPv4 address in another form ("127.1",
// "0x7f.1", "2130706433").
func localName(host string) string {
	for _, s := range localSuffixes {
		if host == s || strings.HasSuffix(host, "."+s) {
			return "a local or reserved name (." + s + ")"
		}
	}
	if !strings.Contains(host, ".") {
		return "a name of one label"
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" || last[0] < 'a' || last[0] > 'z' {
		return "a top-level label that does not begin with a letter (read as an IPv4 address)"
	}
	return ""
}
