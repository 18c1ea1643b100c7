package tests

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/riskgate/riskgate/api"
)

// openAPIDoc is /openapi.json loaded and validated as OpenAPI 3.1 by a
// library, with a router that finds each request's operation in it.
var openAPIDoc = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host
	// The dashboard's page and assets are text, not JSON.
	for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	return gorillamux.NewRouter(doc)
})

// TestOpenAPIDocumentIsValid: the document is valid OpenAPI 3.1.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	if _, err := openAPIDoc(); err != nil {
		t.Fatal(err)
	}
}

// validateOpenAPI checks every response the handler tests get against the
// OpenAPI document, so the document cannot drift from what is served.
// Event streams pass through unchecked (their frames are not JSON).
func validateOpenAPI(t *testing.T, next http.Handler) http.Handler {
	router, err := openAPIDoc()
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A CORS preflight is the browser's, not an operation of the API.
		if r.URL.Path == "/v1/events" || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		route, params, err := router.FindRoute(r)
		if err != nil {
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s answered %d but is not in openapi.json: %v", r.Method, r.URL.Path, rec.Code, err)
			}
			return
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{
				Request: r, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			},
			Status: rec.Code,
			Header: rec.Header(),
			Options: &openapi3filter.Options{
				IncludeResponseStatus: true,
				MultiError:            true,
			},
		}
		in.SetBodyBytes(bytes.Clone(rec.Body.Bytes()))
		if err := openapi3filter.ValidateResponse(r.Context(), in); err != nil {
			t.Errorf("%s %s → %d does not match openapi.json: %s\nbody: %s", r.Method, r.URL.Path, rec.Code,
				strings.ReplaceAll(err.Error(), "\n", " | "), truncate(rec.Body.String(), 400))
		}
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
