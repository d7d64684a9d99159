// Package validate checks rendered manifests with Knative's and Kubernetes'
// own API types and validation code: each document is decoded strictly into
// its Go type (unknown fields are errors), defaulted as the API server's
// webhook would on create, and validated. Kubernetes core kinds and
// Strimzi's custom resources, which have no importable validation, are
// decoded strictly and checked for what the cluster would reject (kube.go,
// strimzi.go).
//
// It imports the Knative API packages, which are slow to compile, so nothing
// but the manifest tests and tools should import it.
package validate

import (
	"context"
	"errors"
	"fmt"

	kafkabrokerv1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1"
	"knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// resource is what Knative's webhooks need of a type.
type resource interface {
	apis.Defaultable
	apis.Validatable
}

// kinds maps apiVersion/kind to constructors of the types that validate them.
// A Kafka-class Broker is checked twice: by Eventing's Broker and by the Kafka
// broker's own stub, as the two webhooks on a cluster would.
var kinds = map[string][]func() resource{
	"serving.knative.dev/v1/Service":          {func() resource { return &servingv1.Service{} }},
	"eventing.knative.dev/v1/Broker":          {func() resource { return &eventingv1.Broker{} }, func() resource { return &kafkabrokerv1.BrokerStub{} }},
	"eventing.knative.dev/v1/Trigger":         {func() resource { return &eventingv1.Trigger{} }},
	"eventing.knative.dev/v1alpha1/KafkaSink": {func() resource { return &v1alpha1.KafkaSink{} }},
	// Validated with the Eventing features make deploy turns on
	// (clusterContext): an EventPolicy is refused unless OIDC is enabled.
	"eventing.knative.dev/v1alpha1/EventPolicy": {func() resource { return &eventingv1alpha1.EventPolicy{} }},
}

// afterWebhook holds checks for what a kind's webhook accepts but the
// cluster would still fail on; they run on the decoded, defaulted object.
var afterWebhook = map[string]func(resource) error{
	"serving.knative.dev/v1/Service": func(r resource) error {
		return checkListenAddresses(r.(*servingv1.Service).Spec.Template.Spec.PodSpec)
	},
}

// Stream validates every object of a rendered YAML stream and returns one
// error per invalid object, joined.
func Stream(ctx context.Context, stream []byte) error {
	objs, err := manifests.Split(stream)
	if err != nil {
		return err
	}
	var errs []error
	var topics []kafkaTopic
	var pools []kafkaNodePool
	var users []kafkaUser
	clusters := map[string]bool{}
	for _, o := range objs {
		if err := Object(ctx, o); err != nil {
			errs = append(errs, err)
			continue
		}
		// Valid Strimzi objects decode; collect them for the cross-checks.
		switch o.Kind {
		case "KafkaTopic":
			var t kafkaTopic
			_ = yaml.Unmarshal(o.Raw, &t)
			topics = append(topics, t)
		case "KafkaNodePool":
			var p kafkaNodePool
			_ = yaml.Unmarshal(o.Raw, &p)
			pools = append(pools, p)
		case "KafkaUser":
			var u kafkaUser
			_ = yaml.Unmarshal(o.Raw, &u)
			users = append(users, u)
		case "Kafka":
			clusters[o.Name] = true
		}
	}
	if len(topics)+len(pools)+len(users)+len(clusters) > 0 {
		errs = append(errs, checkStrimziReferences(topics, pools, users, clusters))
	}
	return errors.Join(errs...)
}

// Object validates one object.
func Object(ctx context.Context, o manifests.Object) error {
	key := o.APIVersion + "/" + o.Kind
	if check, ok := kubeKinds[key]; ok {
		return wrap(o, check(o.Raw))
	}
	if check, ok := strimziKinds[key]; ok {
		return wrap(o, check(o.Raw))
	}
	ctors, ok := kinds[key]
	if !ok {
		return fmt.Errorf("%s: no validator for %s; add one before applying it", o, key)
	}
	ctx, err := clusterContext(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	createCtx := apis.WithinCreate(ctx)
	for i, ctor := range ctors {
		r := ctor()
		if err := yaml.UnmarshalStrict(o.Raw, r); err != nil {
			return fmt.Errorf("%s: %w", o, err)
		}
		r.SetDefaults(createCtx)
		if fe := r.Validate(createCtx).Filter(apis.ErrorLevel); fe != nil {
			return fmt.Errorf("%s: %w", o, fe)
		}
		if check, ok := afterWebhook[key]; ok && i == 0 {
			if err := check(r); err != nil {
				return fmt.Errorf("%s: %w", o, err)
			}
		}
	}
	return nil
}

func wrap(o manifests.Object, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	return nil
}
