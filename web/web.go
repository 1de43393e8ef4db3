// Package web serves the browser client, slsrtc.js (an ES module with no
// build step: the protocol, perfect negotiation, ICE servers, resume), and
// the demo page built on it: a small video room with chat. The local stack
// mounts it at "/", so the client is at /slsrtc.js. The page's WebSocket URL
// is a field, filled from ?ws= when given, else from the endpoints.json of
// the local stack that served it (any stage), else the default stage on the
// page's host; so the same page works against a deployed stack.
//
// notify.js (an ES module) and sw.js (its service worker) are "notify me
// when someone joins": Web Push, per docs/protocol.md.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler returns a handler serving the page (index.html), its assets, the
// client (slsrtc.js) and the favicon, each file at the root.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: " + err.Error()) // "static" is embedded above
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page changes with the binary: always revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		switch r.URL.Path {
		case "/favicon.ico": // not in Go's MIME table; sniffing would say image/x-icon
			w.Header().Set("Content-Type", "image/x-icon")
		case "/sw.js", "/notify.js":
			// A service worker and a module script must come with a
			// JavaScript type, whatever the system's MIME table says.
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		if r.URL.Path == "/sw.js" {
			// The worker may control the whole origin (scope "/"), also
			// when the handler is mounted below it and the page asks for
			// a wider scope than the script's directory.
			w.Header().Set("Service-Worker-Allowed", "/")
		}
		fileServer.ServeHTTP(w, r)
	})
}
