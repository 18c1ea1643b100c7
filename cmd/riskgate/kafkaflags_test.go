package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func TestKafkaCompressionFlag(t *testing.T) {
	for _, tc := range []struct {
		cmd, flag string
		want      kafka.Compression
		err       string
	}{
		{"riskgate router", "", kafka.DefaultCompression, ""},
		{"riskgate router", "zstd", kafka.CompressionZstd, ""},
		{"riskgate gen panic", "GZIP", kafka.CompressionGzip, ""},
		{"riskgate bench router", "lz4", kafka.CompressionLz4, ""},
		{"riskgate dev", string(kafka.DefaultCompression), kafka.DefaultCompression, ""},
		{"riskgate dev", "", kafka.DefaultCompression, ""},
		{"riskgate router", "brotli", "", `--kafka-compression: unknown Kafka compression "brotli"`},
		{"riskgate dev", "snappy", kafka.CompressionSnappy, ""},
	} {
		got, err := kafkaCompression(tc.cmd, tc.flag)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s --kafka-compression %q = %q, %v; want %q", tc.cmd, tc.flag, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s --kafka-compression %q: error %v, want one containing %q", tc.cmd, tc.flag, err, tc.err)
		}
	}
}

func TestKafkaCompressionFlagDefault(t *testing.T) {
	f := root.PersistentFlags().Lookup("kafka-compression")
	if f == nil {
		t.Fatal("no --kafka-compression flag")
	}
	if !strings.Contains(f.Usage, "RISKGATE_KAFKA_COMPRESSION") {
		t.Errorf("usage %q does not name the environment variable", f.Usage)
	}
	if envOr("RISKGATE_KAFKA_COMPRESSION", "") == "" && f.DefValue != string(kafka.DefaultCompression) {
		t.Errorf("default %q, want %q", f.DefValue, kafka.DefaultCompression)
	}
}

// A bad codec stops any command before it connects anywhere, with the
// flag's name in the message.
func TestBadKafkaCompressionStopsTheCommand(t *testing.T) {
	t.Cleanup(func() { kafkaCompressionFlag = string(kafka.DefaultCompression) })
	// Bounded, in case the command got past its flags and tried to connect.
	_, err := runRiskgate(t, 10*time.Second, "topics", "create", "--brokers", "127.0.0.1:1", "--kafka-compression", "brotli")
	if err == nil || !strings.Contains(err.Error(), "--kafka-compression") || !strings.Contains(err.Error(), "brotli") {
		t.Fatalf("riskgate topics create --kafka-compression brotli: %v, want an error naming the flag and value", err)
	}
}

// runRiskgate runs the riskgate command with args in this process, for at
// most limit, logs what it printed and returns that and its error.
func runRiskgate(t *testing.T, limit time.Duration, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	t.Cleanup(func() {
		root.SetArgs(nil)
		root.SetOut(nil)
		root.SetErr(nil)
		setContexts(root, context.Background())
	})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	// Cobra gives a subcommand the root's context only when it has none,
	// and keeps it from one Execute to the next, so a second run in one
	// test would get the first one's, cancelled when that run ended.
	setContexts(root, ctx)
	err := root.ExecuteContext(ctx)
	t.Logf("riskgate %s:\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

func setContexts(c *cobra.Command, ctx context.Context) {
	c.SetContext(ctx)
	for _, sub := range c.Commands() {
		setContexts(sub, ctx)
	}
}
