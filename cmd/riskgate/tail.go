package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/riskgate/riskgate/ingest/kafka"
)

func init() {
	var (
		fromStart bool
		max       int
		meta      bool
	)
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print a topic's records as JSON lines (committed records only)",
		Example: `  riskgate tail audit.v1
  riskgate tail killswitch.state.v1 --from-beginning
  riskgate tail orders.dlq.v1 --meta`,
		Args: cobra.ExactArgs(1),
		ValidArgs: func() []string {
			var names []string
			for _, t := range kafka.Topics(0) {
				names = append(names, t.Name)
			}
			return names
		}(),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			start := kgo.NewOffset().AtEnd()
			if fromStart {
				start = kgo.NewOffset().AtStart()
			}
			cl, err := kafkaConfig("riskgate-tail").NewClient(
				kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(start),
				kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			)
			if err != nil {
				return err
			}
			defer cl.Close()
			n := 0
			for {
				fetches := cl.PollFetches(cmd.Context())
				if cmd.Context().Err() != nil {
					return nil
				}
				if err := fetches.Err0(); err != nil {
					return fmt.Errorf("tail %s: %w", topic, err)
				}
				for _, r := range fetches.Records() {
					writeRecord(os.Stdout, r, meta)
					if n++; max > 0 && n >= max {
						return nil
					}
				}
			}
		},
	}
	cmd.Flags().BoolVar(&fromStart, "from-beginning", false, "start at the oldest record instead of waiting for new ones")
	cmd.Flags().IntVarP(&max, "max", "n", 0, "exit after this many records")
	cmd.Flags().BoolVar(&meta, "meta", false, "wrap each value with its topic, partition, offset, key, timestamp and headers")
	root.AddCommand(cmd)
}

// writeRecord prints one record as one JSON line. Values that are not JSON
// (or tombstones) are printed as JSON strings (or null), never dropped.
func writeRecord(w io.Writer, r *kgo.Record, meta bool) {
	value := json.RawMessage("null")
	if r.Value != nil {
		var buf bytes.Buffer
		if json.Compact(&buf, r.Value) == nil {
			value = buf.Bytes()
		} else {
			value, _ = json.Marshal(string(r.Value))
		}
	}
	if !meta {
		fmt.Fprintf(w, "%s\n", value)
		return
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	b, _ := json.Marshal(struct {
		Topic     string            `json:"topic"`
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Key       string            `json:"key"`
		Timestamp int64             `json:"timestamp"`
		Headers   map[string]string `json:"headers,omitempty"`
		Value     json.RawMessage   `json:"value"`
	}{r.Topic, r.Partition, r.Offset, string(r.Key), r.Timestamp.UnixMilli(), headers, value})
	fmt.Fprintf(w, "%s\n", slices.Clip(b))
}
