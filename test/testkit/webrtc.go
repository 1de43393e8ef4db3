package testkit

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// LoopbackSettings returns pion settings that gather UDP4 host candidates
// on loopback only, without mDNS, so that test peers work offline and
// fast.
func LoopbackSettings() *webrtc.SettingEngine {
	se := &webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

// LoopbackAPI is a pion API with LoopbackSettings.
func LoopbackAPI() *webrtc.API { return webrtc.NewAPI(webrtc.WithSettingEngine(*LoopbackSettings())) }
