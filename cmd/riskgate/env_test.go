package main

import (
	"strings"
	"testing"
)

func TestParseBool(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
		ok   bool
	}{
		{"true", true, true}, {"TRUE", true, true}, {"1", true, true}, {"yes", true, true}, {"On", true, true}, {" y ", true, true},
		{"false", false, true}, {"0", false, true}, {"no", false, true}, {"OFF", false, true}, {"n", false, true},
		{"maybe", false, false}, {"2", false, false}, {"truee", false, false},
	} {
		got, err := parseBool(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseBool(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestEnvBoolReportsWhatItCannotRead(t *testing.T) {
	defer func(old []error) { envErrors = old }(envErrors)
	envErrors = nil
	t.Setenv("RISKGATE_TEST_BOOL", "yes")
	if !envBool("RISKGATE_TEST_BOOL") || len(envErrors) != 0 {
		t.Fatalf("yes: %v", envErrors)
	}
	t.Setenv("RISKGATE_TEST_BOOL", "")
	if envBool("RISKGATE_TEST_BOOL") || len(envErrors) != 0 {
		t.Fatalf("empty: %v", envErrors)
	}
	t.Setenv("RISKGATE_TEST_BOOL", "sure")
	if envBool("RISKGATE_TEST_BOOL") || len(envErrors) != 1 || !strings.Contains(envErrors[0].Error(), `RISKGATE_TEST_BOOL="sure"`) {
		t.Fatalf("sure: %v", envErrors)
	}
}
