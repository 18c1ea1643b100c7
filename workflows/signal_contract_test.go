package workflows

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/riskgate/riskgate/domain"
)

// TestRecordedSignalsDecodeWithTheDomainTypes: the breach and normal
// payloads of every recorded history decode into the domain types (where
// the signal contracts live), without unknown fields, and encode back to
// the same JSON, so moving the types changed nothing on the wire.
func TestRecordedSignalsDecodeWithTheDomainTypes(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	counts := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h struct {
			Events []struct {
				Signaled *struct {
					SignalName string `json:"signalName"`
					Input      struct {
						Payloads []struct {
							Data string `json:"data"`
						} `json:"payloads"`
					} `json:"input"`
				} `json:"workflowExecutionSignaledEventAttributes"`
			} `json:"events"`
		}
		if err := json.Unmarshal(b, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ev := range h.Events {
			if ev.Signaled == nil || len(ev.Signaled.Input.Payloads) == 0 {
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(ev.Signaled.Input.Payloads[0].Data)
			if err != nil {
				t.Fatalf("%s: payload: %v", f, err)
			}
			var v any
			switch ev.Signaled.SignalName {
			case SignalBreach:
				v = &domain.BreachSignal{}
			case SignalNormal:
				v = &domain.NormalSignal{}
			default:
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("%s: %s payload %s: %v", f, ev.Signaled.SignalName, raw, err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			_ = json.Unmarshal(raw, &a)
			_ = json.Unmarshal(again, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %s payload %s re-encodes as %s", f, ev.Signaled.SignalName, raw, again)
			}
			counts[ev.Signaled.SignalName]++
		}
	}
	if counts[SignalBreach] == 0 || counts[SignalNormal] == 0 {
		t.Fatalf("decoded %v: the recorded histories should hold both kinds", counts)
	}
	t.Logf("decoded %v", counts)
}
