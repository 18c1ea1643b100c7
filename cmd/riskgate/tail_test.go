package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWriteRecordNeverDropsAValue(t *testing.T) {
	tests := []struct {
		name  string
		value []byte
		want  string
	}{
		{"json is compacted", []byte("{\n  \"a\": 1\n}"), `{"a":1}` + "\n"},
		{"non-json is quoted", []byte("not json"), `"not json"` + "\n"},
		{"tombstone is null", nil, "null\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeRecord(&buf, &kgo.Record{Value: tt.value}, false)
			if buf.String() != tt.want {
				t.Fatalf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestWriteRecordMetaCarriesHeaders(t *testing.T) {
	var buf bytes.Buffer
	writeRecord(&buf, &kgo.Record{
		Topic: "orders.dlq.v1", Partition: 0, Offset: 7, Key: []byte("k"),
		Headers: []kgo.RecordHeader{{Key: "error", Value: []byte("invalid order")}},
		Value:   []byte("{oops"),
	}, true)
	var got struct {
		Topic   string            `json:"topic"`
		Offset  int64             `json:"offset"`
		Key     string            `json:"key"`
		Headers map[string]string `json:"headers"`
		Value   string            `json:"value"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("meta line is not JSON: %v: %s", err, buf.String())
	}
	if got.Topic != "orders.dlq.v1" || got.Offset != 7 || got.Key != "k" || got.Headers["error"] != "invalid order" || got.Value != "{oops" {
		t.Fatalf("meta line %+v", got)
	}
}
