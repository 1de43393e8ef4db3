// Package web serves the demo page: a small WebRTC room client in plain
// JavaScript (no build step) that speaks only the documented signaling
// protocol. The local stack mounts it at "/"; the page's WebSocket URL is a
// field, so the same page works against a deployed stack.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler returns a handler serving the page (index.html) and its assets.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: " + err.Error()) // "static" is embedded above
	}
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page changes with the binary: always revalidate.
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}
