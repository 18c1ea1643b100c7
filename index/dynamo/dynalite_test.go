package dynamo_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/riskgate/riskgate/index/dynamo"
)

// dynaliteEndpoint is the URL of the dynalite server TestMain started, or
// empty with skipReason set.
var (
	dynaliteEndpoint string
	skipReason       string
)

// TestMain starts one in-memory dynalite (a DynamoDB-compatible server from
// npm, pinned in testdata/node/package-lock.json) for the package's tests.
// Each test uses its own table prefix.
func TestMain(m *testing.M) {
	stop, err := startDynalite()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynalite:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func startDynalite() (func(), error) {
	node, err := exec.LookPath("node")
	if err != nil {
		skipReason = "node is not installed: the DynamoDB tests need dynalite (npm) on node"
		return func() {}, nil
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		return nil, err
	}
	cli := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		npm, lerr := exec.LookPath("npm")
		if lerr != nil {
			return nil, fmt.Errorf("%s missing and npm not found: run npm ci --prefix %s", cli, dir)
		}
		out, err := exec.Command(npm, "ci", "--prefix", dir, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("npm ci --prefix %s: %v\n%s", dir, err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--createTableMs", "20")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening") {
				ready <- nil
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("dynalite exited before listening")
	}()
	select {
	case err := <-ready:
		if err != nil {
			_ = cmd.Wait()
			return nil, err
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("dynalite did not listen within 30s")
	}
	dynaliteEndpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	return func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}, nil
}

// newClient is a DynamoDB client of the dynalite server.
func newClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	if dynaliteEndpoint == "" {
		t.Skip(skipReason)
	}
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(dynaliteEndpoint),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(staticCreds)),
	})
}

func staticCreds(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "test"}, nil
}

var prefixSeq atomic.Int64

// newStore creates fresh tables and a store on them.
func newStore(t testing.TB, api dynamo.API, mod func(*dynamo.Config)) (*dynamo.Store, dynamo.Tables) {
	t.Helper()
	tables := dynamo.TableNames(fmt.Sprintf("t%d-", prefixSeq.Add(1)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dynamo.CreateTables(ctx, api, tables); err != nil {
		t.Fatal(err)
	}
	cfg := dynamo.Config{Client: api, Tables: tables}
	if mod != nil {
		mod(&cfg)
	}
	s, err := dynamo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, tables
}
