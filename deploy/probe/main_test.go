package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRun(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"http 200", []string{ok.URL + "/readyz"}, true},
		{"http 503", []string{bad.URL + "/readyz"}, false},
		{"tcp open", []string{"tcp", ln.Addr().String()}, true},
		{"tcp closed", []string{"tcp", closedAddr}, false},
		{"no args", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args)
			if (err == nil) != tc.wantOK {
				t.Errorf("run(%v) = %v, want ok=%v", tc.args, err, tc.wantOK)
			}
		})
	}
}
