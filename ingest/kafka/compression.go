package kafka

// Producer compression. franz-go compresses with snappy unless told
// otherwise, and the original demo's Python clients (kafka-python without
// its optional codec modules) cannot read snappy, lz4 or zstd batches. So
// every riskgate client names its codec, and the default is one that every
// Kafka client reads without extras.

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression is the codec of the record batches a client produces.
// Consumers decompress whatever codec a batch carries, so this only decides
// what riskgate writes.
type Compression string

// Supported codecs.
const (
	// CompressionNone writes batches uncompressed.
	CompressionNone Compression = "none"
	// CompressionGzip is readable by every Kafka client without extras
	// (kafka-python uses Python's zlib); it costs the most CPU.
	CompressionGzip Compression = "gzip"
	// CompressionSnappy is franz-go's own default; kafka-python needs the
	// python-snappy module to read it.
	CompressionSnappy Compression = "snappy"
	// CompressionLz4 needs the lz4 module in kafka-python.
	CompressionLz4 Compression = "lz4"
	// CompressionZstd needs Kafka 2.1 or later and the zstandard module in
	// kafka-python.
	CompressionZstd Compression = "zstd"
)

// DefaultCompression is the codec of a Config that names none. Every
// client reads uncompressed batches (librdkafka, kafka-python without
// extras, the Java client). gzip, the one codec they all decompress too,
// cost about half as much CPU again per routed order and doubled the
// router's median latency in `riskgate bench router` (README, "Kafka
// compression"), for a tenth of the bytes; that trade is the operator's to
// make with --kafka-compression.
const DefaultCompression = CompressionNone

// Compressions lists the supported codecs, for help texts and errors.
var Compressions = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd}

// ParseCompression parses a codec name, ignoring case and surrounding
// space; "" is DefaultCompression.
func ParseCompression(s string) (Compression, error) {
	c := Compression(strings.ToLower(strings.TrimSpace(s)))
	if c == "" {
		return DefaultCompression, nil
	}
	if _, ok := c.codec(); !ok {
		return "", fmt.Errorf("unknown Kafka compression %q (want none, gzip, snappy, lz4 or zstd)", s)
	}
	return c, nil
}

// codec is the franz-go codec of c; "" is DefaultCompression. ok is false
// for a name that is not one of the constants.
func (c Compression) codec() (codec kgo.CompressionCodec, ok bool) {
	if c == "" {
		c = DefaultCompression
	}
	switch c {
	case CompressionNone:
		return kgo.NoCompression(), true
	case CompressionGzip:
		return kgo.GzipCompression(), true
	case CompressionSnappy:
		return kgo.SnappyCompression(), true
	case CompressionLz4:
		return kgo.Lz4Compression(), true
	case CompressionZstd:
		return kgo.ZstdCompression(), true
	}
	return kgo.CompressionCodec{}, false
}

// opt is the producer option for c. A codec the broker does not support
// (zstd before Kafka 2.1) falls back to no compression rather than failing
// every produce; an unknown name falls back to the default (NewClient
// rejects it before that can matter).
func (c Compression) opt() kgo.Opt {
	codec, ok := c.codec()
	if !ok {
		codec, _ = DefaultCompression.codec()
	}
	return kgo.ProducerBatchCompression(codec, kgo.NoCompression())
}
