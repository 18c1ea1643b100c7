package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func TestParseCompression(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want kafka.Compression
	}{
		{"", kafka.DefaultCompression},
		{"none", kafka.CompressionNone},
		{"gzip", kafka.CompressionGzip},
		{" GZIP ", kafka.CompressionGzip},
		{"snappy", kafka.CompressionSnappy},
		{"lz4", kafka.CompressionLz4},
		{"Zstd", kafka.CompressionZstd},
	} {
		got, err := kafka.ParseCompression(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"brotli", "gz", "snappy,none", "0"} {
		_, err := kafka.ParseCompression(bad)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "none, gzip, snappy, lz4 or zstd") {
			t.Errorf("ParseCompression(%q) error %v, want one naming the value and the choices", bad, err)
		}
	}
}

// The default must be readable by the original demo's clients: kafka-python
// without codec extras reads only uncompressed and gzip batches.
func TestDefaultCompressionNeedsNoCodecExtras(t *testing.T) {
	if d := kafka.DefaultCompression; d != kafka.CompressionNone && d != kafka.CompressionGzip {
		t.Fatalf("DefaultCompression = %q; kafka-python without extras cannot read it", d)
	}
}

func TestNewClientRejectsUnknownCompression(t *testing.T) {
	cl, err := kafka.Config{Brokers: []string{"127.0.0.1:1"}, Compression: "brotli"}.NewClient()
	if err == nil {
		cl.Close()
		t.Fatal("NewClient accepted compression brotli")
	}
	if !strings.Contains(err.Error(), "brotli") {
		t.Fatalf("error %q does not name the codec", err)
	}
}

// Every codec reaches the wire: the batches a client writes carry the
// codec its Config names (the zero value the default, not franz-go's
// snappy), and read back intact.
func TestConfigProducesWithItsCompression(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, "compressed"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Record attributes number the codecs as Kafka does.
	wire := map[kafka.Compression]uint8{
		kafka.CompressionNone: 0, kafka.CompressionGzip: 1, kafka.CompressionSnappy: 2,
		kafka.CompressionLz4: 3, kafka.CompressionZstd: 4,
	}
	value := []byte(strings.Repeat(`{"decision":"ALLOW","symbol":"AAPL"}`, 20))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, comp := range append([]kafka.Compression{""}, kafka.Compressions...) {
		want, name := wire[comp], string(comp)
		if comp == "" {
			want, name = wire[kafka.DefaultCompression], "default"
		}
		t.Run(name, func(t *testing.T) {
			cfg := kafka.Config{Brokers: c.ListenAddrs(), Compression: comp}
			prod, err := cfg.NewClient()
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "compressed", Value: value}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cons, err := cfg.NewClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
				"compressed": {0: kgo.NewOffset().At(int64(i))},
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			fs := cons.PollRecords(ctx, 1)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			recs := fs.Records()
			if len(recs) != 1 {
				t.Fatalf("read %d records, want 1", len(recs))
			}
			if got := recs[0].Attrs.CompressionType(); got != want {
				t.Errorf("batch codec %d, want %d", got, want)
			}
			if string(recs[0].Value) != string(value) {
				t.Errorf("value read back differs")
			}
		})
	}
}
