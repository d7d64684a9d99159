// Package validate checks rendered manifests with Knative's and Kubernetes'
// own API types and validation code: each document is decoded strictly into
// its Go type (unknown fields are errors), defaulted as the API server's
// webhook would on create, and validated.
//
// It imports the Knative API packages, which are slow to compile, so nothing
// but the manifest tests and tools should import it.
package validate

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	kafkabrokerv1 "knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1"
	"knative.dev/eventing-kafka-broker/control-plane/pkg/apis/eventing/v1alpha1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
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
}

// Stream validates every object of a rendered YAML stream and returns one
// error per invalid object, joined.
func Stream(ctx context.Context, stream []byte) error {
	objs, err := manifests.Split(stream)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		if err := Object(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Object validates one object.
func Object(ctx context.Context, o manifests.Object) error {
	if o.APIVersion == "v1" {
		// Core kinds have no Validate method here; a strict decode still
		// catches unknown fields and wrong types.
		var target any
		switch o.Kind {
		case "Namespace":
			target = &corev1.Namespace{}
		case "ConfigMap":
			target = &corev1.ConfigMap{}
		}
		if target != nil {
			if err := yaml.UnmarshalStrict(o.Raw, target); err != nil {
				return fmt.Errorf("%s: %w", o, err)
			}
			return nil
		}
	}
	ctors, ok := kinds[o.APIVersion+"/"+o.Kind]
	if !ok {
		return fmt.Errorf("%s: no validator for %s/%s; add one before applying it", o, o.APIVersion, o.Kind)
	}
	for _, ctor := range ctors {
		r := ctor()
		if err := yaml.UnmarshalStrict(o.Raw, r); err != nil {
			return fmt.Errorf("%s: %w", o, err)
		}
		createCtx := apis.WithinCreate(ctx)
		r.SetDefaults(createCtx)
		if fe := r.Validate(createCtx).Filter(apis.ErrorLevel); fe != nil {
			return fmt.Errorf("%s: %w", o, fe)
		}
	}
	return nil
}
