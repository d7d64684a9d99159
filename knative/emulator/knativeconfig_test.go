package emulator

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka/cekafka"
)

// The emulator takes its Knative settings from the file make deploy writes
// into the cluster, so both run Parley the same way.
func TestTheDeployedKnativeConfigIsWhatTheEmulatorRuns(t *testing.T) {
	stream, err := os.ReadFile(filepath.Join("..", "deploy", "knative-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := c.ApplyKnativeConfig(stream); err != nil {
		t.Fatal(err)
	}
	if !c.OIDC || c.DefaultAuthorizationMode != AuthorizationDenyAll || c.TriggerStart != StartEarliest {
		t.Errorf("OIDC %v, default mode %q, trigger start %q; want the deployed: true, deny-all, earliest",
			c.OIDC, c.DefaultAuthorizationMode, c.TriggerStart)
	}
	bad := `
apiVersion: v1
kind: ConfigMap
metadata: {name: config-kafka-broker-data-plane, namespace: knative-eventing}
data:
  config-kafka-broker-consumer.properties: "auto.offset.reset=somewhere"
`
	if err := new(Config).ApplyKnativeConfig([]byte(bad)); err == nil {
		t.Error("an unknown auto.offset.reset was accepted")
	}
}

// A new Trigger starts where the config says: at the earliest offset it
// gets an event produced before it existed, at the latest it does not.
func TestANewTriggerStartsWhereTheConfigSays(t *testing.T) {
	for _, start := range []string{StartEarliest, StartLatest} {
		t.Run(start, func(t *testing.T) {
			h := startEmulator(t, brokerYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.start", "fn", ""), func(c *Config) {
				c.TriggerStart = start
				// Produced before the emulator, and so the Trigger, exists.
				cl, err := testClient(c.KafkaBrokers)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				key, headers, value, err := cekafka.Encode(newEvent("before", "test.start", "k", ""))
				if err != nil {
					t.Fatal(err)
				}
				rec := &kgo.Record{Topic: testTopic, Key: key, Value: value}
				for _, hd := range headers {
					rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: hd.Key, Value: hd.Value})
				}
				if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
					t.Fatal(err)
				}
			})
			// Until the Trigger's consumer has found where to start, an
			// event produced now may fall before it too: produce until one
			// arrives. Same key, same partition, an ordered Trigger: had
			// "before" been delivered, it would have come first.
			var last time.Time
			eventually(t, 10*time.Second, "an event produced after the start", func() bool {
				if time.Since(last) > 100*time.Millisecond {
					h.produce(t, newEvent("after", "test.start", "k", ""))
					last = time.Now()
				}
				return h.sink.count(func(r record) bool { return r.ID == "after" }) > 0
			})
			got := h.sink.count(func(r record) bool { return r.ID == "before" })
			if want := map[string]int{StartEarliest: 1, StartLatest: 0}[start]; got != want {
				t.Errorf("the event produced before the Trigger was delivered %d times, want %d", got, want)
			}
		})
	}
}
