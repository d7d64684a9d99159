package validate

import (
	"context"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/manifests"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// dialectTriggers use each filter dialect a Trigger may, beyond the ones
// Parley's manifests use today, so an operator's own Trigger behaves in the
// emulator as on the cluster.
const dialectTriggers = `
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-none, namespace: parley}
spec: {broker: default, subscriber: {uri: "http://sink.test"}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-attributes, namespace: parley}
spec:
  broker: default
  filter: {attributes: {type: parley.message.sent, source: parley/connector/c1}}
  subscriber: {uri: "http://sink.test"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-attribute-any-value, namespace: parley}
spec:
  broker: default
  filter: {attributes: {type: "", partitionkey: room-1}}
  subscriber: {uri: "http://sink.test"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-prefix-suffix, namespace: parley}
spec:
  broker: default
  filters: [{prefix: {type: parley.message.}}, {suffix: {source: /persist}}]
  subscriber: {uri: "http://sink.test"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-not, namespace: parley}
spec:
  broker: default
  filters: [{not: {exact: {type: parley.message.sent}}}]
  subscriber: {uri: "http://sink.test"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-nested, namespace: parley}
spec:
  broker: default
  filters:
    - any:
        - exact: {type: parley.user.created}
        - all:
            - prefix: {source: parley/connector/}
            - not: {exact: {type: parley.receipt.read}}
            - exact: {partitionkey: room-2}
  subscriber: {uri: "http://sink.test"}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t-filters-win, namespace: parley}
spec:
  broker: default
  filter: {attributes: {type: parley.message.sent}}
  filters: [{exact: {type: parley.message.stored}}]
  subscriber: {uri: "http://sink.test"}
`

// The emulator's Triggers pick the events Knative's would. Knative's Kafka
// Broker filters by spec.filters when a Trigger has any (the
// SubscriptionsAPI dialects, all of which must pass) and by spec.filter's
// attributes otherwise; Eventing's pkg/eventfilter is the Go implementation
// of both. This runs it beside the emulator's filter, which reads the Kafka
// record's headers, for every Trigger in the manifests and the dialect
// Triggers above, on every Parley event type from every emitter and a
// forged source.
func TestTheEmulatorFiltersTriggersAsKnativeDoes(t *testing.T) {
	stream, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		t.Fatal(err)
	}
	stream = append(stream, dialectTriggers...)
	spec, err := emulator.ParseSpec(stream)
	if err != nil || len(spec.Skipped) > 0 {
		t.Fatalf("parse: %v %v", err, spec.Skipped)
	}
	objs, err := manifests.Split(stream)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	knative := map[string]eventfilter.Filter{}
	for _, o := range objs {
		if o.Kind != "Trigger" {
			continue
		}
		var tr eventingv1.Trigger
		if err := yaml.UnmarshalStrict(o.Raw, &tr); err != nil {
			t.Fatal(err)
		}
		if err := tr.Validate(ctx); err != nil {
			t.Fatalf("Trigger %s: %v", tr.Name, err)
		}
		// As the Kafka Broker's control plane builds its egress (trigger.go).
		switch {
		case len(tr.Spec.Filters) > 0:
			knative[tr.Name] = subscriptionsapi.CreateSubscriptionsAPIFilters(zap.NewNop(), tr.Spec.Filters)
		case tr.Spec.Filter != nil:
			knative[tr.Name] = attributes.NewAttributesFilter(tr.Spec.Filter.Attributes)
		default:
			knative[tr.Name] = attributes.NewAttributesFilter(nil)
		}
	}
	if len(knative) != len(spec.Triggers) {
		t.Fatalf("%d Triggers in the manifests, the emulator has %d", len(knative), len(spec.Triggers))
	}

	sources := []string{eventsv1.SourceAuth, eventsv1.SourceConnector + "c1", eventsv1.SourcePersist,
		eventsv1.SourceModeration, "evil"}
	for _, tr := range spec.Triggers {
		kf, passed := knative[tr.Name], 0
		for _, typ := range append(eventsv1.Types(), "parley.other") {
			for _, src := range sources {
				for i, key := range []string{"room-1", "room-2", "room-3"} {
					e := event.New()
					e.SetID("1")
					e.SetType(typ)
					e.SetSource(src)
					e.SetExtension(cekafka.PartitionKey, key)
					if i > 0 { // marked, or marked otherwise, as persist's replies are
						e.SetExtension(eventsv1.ExtQuiet, []string{"", "true", "false"}[i])
					}
					_, headers, _, err := cekafka.Encode(e)
					if err != nil {
						t.Fatal(err)
					}
					rec := &kgo.Record{}
					for _, h := range headers {
						rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
					}
					// The Broker delivers unless the filter fails (NoFilter passes).
					want := kf.Filter(ctx, e) != eventfilter.FailFilter
					if got := tr.PassesRecord(rec); got != want {
						t.Errorf("Trigger %s, %s from %s (%s): Knative delivers=%v, the emulator delivers=%v",
							tr.Name, typ, src, key, want, got)
					}
					if want {
						passed++
					}
				}
			}
		}
		if passed == 0 {
			t.Errorf("Trigger %s delivers none of Parley's events", tr.Name)
		}
	}

	// notification is not woken for a message persist marked quiet, and is
	// for every other.
	for quiet, want := range map[string]bool{"": true, "false": true, "true": false} {
		e := event.New()
		e.SetID("1")
		e.SetType(eventsv1.TypeMessageStored)
		e.SetSource(eventsv1.SourcePersist)
		if quiet != "" {
			e.SetExtension(eventsv1.ExtQuiet, quiet)
		}
		if got := knative["notification-feed"].Filter(ctx, e) != eventfilter.FailFilter; got != want {
			t.Errorf("notification-feed delivers a stored message marked quiet=%q: %v, want %v", quiet, got, want)
		}
	}
}
