package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTemporalConnectionPrecedence: the Temporal CLI's environment is read
// as Temporal's tools read it, and riskgate's flags win over it.
func TestTemporalConnectionPrecedence(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_PROFILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	defer func(old globals, oldTLS temporalTLS) { g, gtls = old, oldTLS }(g, gtls)
	g, gtls = globals{}, temporalTLS{}

	p, err := temporalProfile()
	if err != nil || p.Address != defaultTemporal || p.Namespace != "default" || p.TLS != nil {
		t.Fatalf("defaults: %+v %v", p, err)
	}

	t.Setenv("TEMPORAL_ADDRESS", "ns.a1b2c.tmprl.cloud:7233")
	t.Setenv("TEMPORAL_NAMESPACE", "ns.a1b2c")
	t.Setenv("TEMPORAL_API_KEY", "secret-key")
	opts, err := temporalOptions(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "ns.a1b2c.tmprl.cloud:7233" || opts.Namespace != "ns.a1b2c" {
		t.Errorf("TEMPORAL_* env not used: %s %s", opts.HostPort, opts.Namespace)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Errorf("an API key must bring credentials and TLS: %+v", opts.ConnectionOptions)
	}

	g.temporal, g.namespace = "temporal.internal:7233", "risk"
	if opts, err = temporalOptions(slog.New(slog.DiscardHandler)); err != nil || opts.HostPort != "temporal.internal:7233" || opts.Namespace != "risk" {
		t.Errorf("flags must win: %s %s %v", opts.HostPort, opts.Namespace, err)
	}
}

// TestTemporalMTLSFlags: cert, key and CA flags give the client mTLS.
func TestTemporalMTLSFlags(t *testing.T) {
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_API_KEY", "TEMPORAL_TLS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
	defer func(old globals, oldTLS temporalTLS) { g, gtls = old, oldTLS }(g, gtls)
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	g = globals{temporal: "temporal.internal:7233"}

	gtls = temporalTLS{cert: cert}
	if _, err := temporalOptions(slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	gtls = temporalTLS{cert: cert, key: key, ca: cert, serverName: "temporal.internal"}
	opts, err := temporalOptions(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tc := opts.ConnectionOptions.TLS
	if tc == nil || len(tc.Certificates) != 1 || tc.RootCAs == nil || tc.ServerName != "temporal.internal" {
		t.Fatalf("mTLS not configured: %+v", tc)
	}
}

func writeSelfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "temporal.internal"},
		DNSNames: []string{"temporal.internal"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
