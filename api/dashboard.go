package api

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// web holds the dashboard: one HTML page, its script and its stylesheet,
// with no third-party code and nothing loaded from the network.
//
//go:embed web
var web embed.FS

// webFS is web rooted at the web directory.
var webFS, _ = fs.Sub(web, "web")

// dashboardCSP confines the page to its own origin: no inline script, no
// remote content, so even a value that slipped past escaping cannot run.
const dashboardCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// dashboard serves GET /: the operator dashboard page.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, webFS, "index.html")
}

// assets serves GET /assets/*: the dashboard's script and stylesheet.
func (s *Server) assets(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	if name == "" || name == "index.html" || strings.Contains(name, "..") {
		s.problem(w, r, http.StatusNotFound, "Not found", "no asset "+quote(name))
		return
	}
	if _, err := fs.Stat(webFS, name); err != nil {
		s.problem(w, r, http.StatusNotFound, "Not found", "no asset "+quote(name))
		return
	}
	setPageHeaders(w)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, webFS, name)
}
