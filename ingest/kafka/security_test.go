package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func TestNewSecurityValidates(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     kafka.SecurityConfig
		wantErr string
		wantTLS bool
		wantMec string
	}{
		{name: "plaintext", cfg: kafka.SecurityConfig{}},
		{name: "tls only", cfg: kafka.SecurityConfig{TLS: true}, wantTLS: true},
		{name: "scram 512", cfg: kafka.SecurityConfig{SASL: kafka.SASLScram512, User: "u", Password: "pw-secret"}, wantMec: "SCRAM-SHA-512"},
		{name: "scram 256 over tls", cfg: kafka.SecurityConfig{TLS: true, SASL: kafka.SASLScram256, User: "u", Password: "p"}, wantTLS: true, wantMec: "SCRAM-SHA-256"},
		{name: "msk iam forces tls", cfg: kafka.SecurityConfig{SASL: kafka.SASLAWSMSKIAM, AWSRegion: "eu-west-1",
			AWSCredentials: aws.AnonymousCredentials{}}, wantTLS: true, wantMec: "AWS_MSK_IAM"},
		{name: "scram without password", cfg: kafka.SecurityConfig{SASL: kafka.SASLScram512, User: "u"}, wantErr: "needs a user and a password"},
		{name: "user without sasl", cfg: kafka.SecurityConfig{User: "u"}, wantErr: "without a SASL mechanism"},
		{name: "msk iam with password", cfg: kafka.SecurityConfig{SASL: kafka.SASLAWSMSKIAM, User: "u", Password: "p"}, wantErr: "not a user and password"},
		{name: "ca without tls", cfg: kafka.SecurityConfig{TLSCAFile: notPEM}, wantErr: "TLS is off"},
		{name: "ca not pem", cfg: kafka.SecurityConfig{TLS: true, TLSCAFile: notPEM}, wantErr: "no PEM certificate"},
		{name: "ca missing", cfg: kafka.SecurityConfig{TLS: true, TLSCAFile: filepath.Join(dir, "none.pem")}, wantErr: "read Kafka TLS CA file"},
		{name: "cert without key", cfg: kafka.SecurityConfig{TLS: true, TLSCertFile: notPEM}, wantErr: "give both or neither"},
		{name: "unknown mechanism", cfg: kafka.SecurityConfig{SASL: "gssapi"}, wantErr: "unknown Kafka SASL mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := kafka.NewSecurity(context.Background(), tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.TLS() != tc.wantTLS {
				t.Errorf("TLS() = %v, want %v", s.TLS(), tc.wantTLS)
			}
			var name string
			if m := s.Mechanism(); m != nil {
				name = m.Name()
			}
			if name != tc.wantMec {
				t.Errorf("mechanism %q, want %q", name, tc.wantMec)
			}
			if tc.cfg.Password != "" && strings.Contains(s.String(), tc.cfg.Password) {
				t.Errorf("String() leaks the password: %q", s.String())
			}
		})
	}
}

func TestParseSASLMechanism(t *testing.T) {
	for in, want := range map[string]kafka.SASLMechanism{
		"": kafka.SASLNone, "none": kafka.SASLNone, "SCRAM-SHA-512": kafka.SASLScram512,
		"scram-sha-256": kafka.SASLScram256, " aws-msk-iam ": kafka.SASLAWSMSKIAM,
	} {
		got, err := kafka.ParseSASLMechanism(in)
		if err != nil || got != want {
			t.Errorf("ParseSASLMechanism(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := kafka.ParseSASLMechanism("plain"); err == nil {
		t.Error("plain accepted")
	}
}

// TestSCRAMAndTLSAgainstKfake connects to a kfake cluster that requires SASL
// (and, in some cases, TLS with a private CA) and round-trips a record.
func TestSCRAMAndTLSAgainstKfake(t *testing.T) {
	caFile, serverTLS := testCA(t)
	for _, tc := range []struct {
		name     string
		method   string
		mech     kafka.SASLMechanism
		tls      bool
		password string
		wantOK   bool
	}{
		{"scram-sha-512", "SCRAM-SHA-512", kafka.SASLScram512, false, "s3cret", true},
		{"scram-sha-256 over tls", "SCRAM-SHA-256", kafka.SASLScram256, true, "s3cret", true},
		{"scram-sha-512 over tls", "SCRAM-SHA-512", kafka.SASLScram512, true, "s3cret", true},
		{"wrong password", "SCRAM-SHA-512", kafka.SASLScram512, false, "guess", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kfake.Opt{kfake.Ports(0), kfake.EnableSASL(), kfake.Superuser(tc.method, "riskgate", "s3cret"),
				kfake.SeedTopics(1, "sec.test")}
			if tc.tls {
				opts = append(opts, kfake.TLS(serverTLS))
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc := kafka.SecurityConfig{TLS: tc.tls, SASL: tc.mech, User: "riskgate", Password: tc.password}
			if tc.tls {
				sc.TLSCAFile = caFile
			}
			sec, err := kafka.NewSecurity(context.Background(), sc)
			if err != nil {
				t.Fatal(err)
			}
			cfg := kafka.Config{Brokers: c.ListenAddrs(), Security: sec}
			cl, err := cfg.NewClient(kgo.DefaultProduceTopic("sec.test"), kgo.RequestRetries(0),
				kgo.RetryTimeout(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			wait := 5 * time.Second
			if !tc.wantOK {
				wait = 1500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr()
			if tc.wantOK && err != nil {
				t.Fatalf("produce: %v", err)
			}
			if !tc.wantOK && err == nil {
				t.Fatal("produce succeeded with a wrong password")
			}
		})
	}
}

// credServer is an ECS/EKS-style container credentials endpoint: every call
// issues a new key that expires after ttl.
type credServer struct {
	ttl   time.Duration
	calls atomic.Int64
	mu    sync.Mutex
	keys  map[string]string // access key -> secret
	toks  map[string]string // access key -> session token
}

func (s *credServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := s.calls.Add(1)
	key := fmt.Sprintf("ASIATESTKEY%06d", n)
	secret := fmt.Sprintf("secret-%d", n)
	tok := fmt.Sprintf("token-%d", n)
	s.mu.Lock()
	s.keys[key], s.toks[key] = secret, tok
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId":     key,
		"SecretAccessKey": secret,
		"Token":           tok,
		"Expiration":      time.Now().Add(s.ttl).UTC().Format(time.RFC3339),
	})
}

// useContainerCredentials points aws-sdk-go-v2's default chain at srv and
// nothing else: no environment keys, no shared files, no instance metadata.
func useContainerCredentials(t *testing.T, srv *httptest.Server) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                      "",
		"AWS_SECRET_ACCESS_KEY":                  "",
		"AWS_SESSION_TOKEN":                      "",
		"AWS_PROFILE":                            "",
		"AWS_WEB_IDENTITY_TOKEN_FILE":            "",
		"AWS_CONFIG_FILE":                        filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE":            filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":              "true",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI":     srv.URL + "/creds",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_REGION":                             "us-east-1",
	} {
		t.Setenv(k, v)
	}
}

// TestMSKIAMSignsWithChainCredentialsAndRefreshes authenticates a real
// franz-go client to kfake with the AWS_MSK_IAM mechanism. kfake's control
// hooks play the MSK side: they accept the handshake, check every
// authentication payload's SigV4 signature against the key the credentials
// endpoint issued (recomputed with aws-sdk-go-v2's own signer), and give
// each session a short lifetime so the client re-authenticates.
func TestMSKIAMSignsWithChainCredentialsAndRefreshes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// ttl is how long the issued credentials live; the cache window is
		// one minute.
		ttl         time.Duration
		wantRefresh bool
	}{
		{"credentials inside the expiry window are refreshed", 30 * time.Second, true},
		{"credentials far from expiry are reused", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &credServer{ttl: tc.ttl, keys: map[string]string{}, toks: map[string]string{}}
			srv := httptest.NewServer(cs)
			defer srv.Close()
			useContainerCredentials(t, srv)

			c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, "iam.test"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			var (
				mu       sync.Mutex
				seenKeys []string
				problems []string
			)
			c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				r := req.(*kmsg.SASLHandshakeRequest)
				resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
				if r.Mechanism != "AWS_MSK_IAM" {
					resp.ErrorCode = 33 // UNSUPPORTED_SASL_MECHANISM
				}
				resp.SupportedMechanisms = []string{"AWS_MSK_IAM"}
				return resp, nil, true
			})
			c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				r := req.(*kmsg.SASLAuthenticateRequest)
				resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
				key, err := verifyMSKPayload(r.SASLAuthBytes, cs)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					problems = append(problems, err.Error())
					resp.ErrorCode = 58 // SASL_AUTHENTICATION_FAILED
					msg := err.Error()
					resp.ErrorMessage = &msg
					return resp, nil, true
				}
				seenKeys = append(seenKeys, key)
				resp.SASLAuthBytes = []byte(`{"version":"2020_10_22","request-id":"test"}`)
				resp.SessionLifetimeMillis = 300
				return resp, nil, true
			})

			sec, err := kafka.NewSecurity(context.Background(), kafka.SecurityConfig{
				SASL: kafka.SASLAWSMSKIAM, ExpiryWindow: time.Minute, UserAgent: "riskgate-test",
			})
			if err != nil {
				t.Fatal(err)
			}
			// kfake listens in plaintext: MSK IAM turned TLS on, so take it
			// back off for this client only, keeping the SASL mechanism.
			cfg := kafka.Config{Brokers: c.ListenAddrs()}
			cl, err := cfg.NewClient(kgo.SASL(sec.Mechanism()), kgo.DefaultProduceTopic("iam.test"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := 0; i < 6; i++ {
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
					t.Fatalf("produce %d: %v (auth problems: %v)", i, err, problems)
				}
				time.Sleep(400 * time.Millisecond) // past the session lifetime: the next request re-authenticates
			}

			mu.Lock()
			defer mu.Unlock()
			if len(problems) > 0 {
				t.Fatalf("authentication payloads rejected: %v", problems)
			}
			if len(seenKeys) < 3 {
				t.Fatalf("%d authentications, want at least 3 (session lifetime 300 ms)", len(seenKeys))
			}
			distinct := map[string]bool{}
			for _, k := range seenKeys {
				distinct[k] = true
			}
			if tc.wantRefresh && len(distinct) < 2 {
				t.Errorf("one access key over %d authentications; credentials near expiry were not refreshed", len(seenKeys))
			}
			if !tc.wantRefresh && (len(distinct) != 1 || cs.calls.Load() != 1) {
				t.Errorf("%d keys and %d credential fetches for %d authentications; want the cached key reused",
					len(distinct), cs.calls.Load(), len(seenKeys))
			}
			t.Logf("%d authentications, %d distinct keys, %d credential fetches", len(seenKeys), len(distinct), cs.calls.Load())
		})
	}
}

// verifyMSKPayload checks an AWS_MSK_IAM authentication payload: its key was
// issued by cs, its session token matches, and its signature is the SigV4
// presigned-URL signature aws-sdk-go-v2 computes for the same request.
func verifyMSKPayload(b []byte, cs *credServer) (string, error) {
	var p map[string]string
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("payload is not JSON: %v", err)
	}
	if p["version"] != "2020_10_22" || p["action"] != "kafka-cluster:Connect" || p["user-agent"] != "riskgate-test" {
		return "", fmt.Errorf("unexpected payload fields: %v", p)
	}
	cred := strings.Split(p["x-amz-credential"], "/")
	if len(cred) != 5 || cred[2] != "us-east-1" || cred[3] != "kafka-cluster" {
		return "", fmt.Errorf("credential scope %q", p["x-amz-credential"])
	}
	key := cred[0]
	cs.mu.Lock()
	secret, ok := cs.keys[key]
	tok := cs.toks[key]
	cs.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("access key %q was not issued by the credentials endpoint", key)
	}
	if p["x-amz-security-token"] != tok {
		return "", fmt.Errorf("session token %q, want %q", p["x-amz-security-token"], tok)
	}
	at, err := time.Parse("20060102T150405Z", p["x-amz-date"])
	if err != nil {
		return "", fmt.Errorf("x-amz-date: %v", err)
	}
	q := url.Values{"Action": {"kafka-cluster:Connect"}, "X-Amz-Expires": {p["x-amz-expires"]}}
	req, err := http.NewRequest(http.MethodGet, "https://"+p["host"]+"/?"+strings.ReplaceAll(q.Encode(), "+", "%20"), nil)
	if err != nil {
		return "", err
	}
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: tok},
		req, emptySHA256, "kafka-cluster", "us-east-1", at)
	if err != nil {
		return "", fmt.Errorf("presign: %v", err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		return "", err
	}
	if want := u.Query().Get("X-Amz-Signature"); want != p["x-amz-signature"] {
		return "", fmt.Errorf("signature %s, want %s", p["x-amz-signature"], want)
	}
	return key, nil
}

// testCA writes a private CA to a file and returns it with a server TLS
// config whose certificate (for 127.0.0.1) it signed.
func testCA(t *testing.T) (string, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "riskgate test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kafka"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}},
		MinVersion:   tls.VersionTLS12,
	}
}
