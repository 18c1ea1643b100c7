package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadIdentityKeys(t *testing.T) {
	key := strings.Repeat("k", 64)
	file := filepath.Join(t.TempDir(), "identity-key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, env string
		keys            int
		err             string
	}{
		{name: "none", keys: 0},
		{name: "file", path: file, keys: 1},
		{name: "environment", env: key, keys: 1},
		{name: "both", path: file, env: key, err: "not both"},
		{name: "missing file", path: file + ".absent", err: "read identity key file"},
		{name: "short key", path: short, err: "at least 32"},
		{name: "short key in the environment", env: "0123456789", err: envIdentityKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envIdentityKey, tc.env)
			keys, err := loadIdentityKeys(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil || len(keys) != tc.keys {
				t.Fatalf("%d keys, %v; want %d", len(keys), err, tc.keys)
			}
		})
	}
}
