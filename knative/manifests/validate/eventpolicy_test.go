package validate

import (
	"context"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	"knative.dev/eventing/pkg/auth"
	listers "knative.dev/eventing/pkg/client/listers/eventing/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/manifests"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// The emulator decides who may send what to the Broker and the dead-letter
// sink as Knative Eventing's own code does (pkg/auth: the policies that
// apply, the subjects they resolve to, SubjectAndFiltersPass), for every
// sender, type and source Parley has and a few it must refuse. pkg/auth
// lets the first policy (by name) listing a subject decide, where the Kafka
// Broker's receiver, which the emulator mirrors, takes any policy listing
// it that the event passes; the two agree because no subject appears in
// two of Parley's policies for one resource, which this test checks too.
func TestTheEmulatorAuthorizesEventsAsKnativeDoes(t *testing.T) {
	stream, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := emulator.ParseSpec(stream)
	if err != nil || len(spec.Skipped) > 0 {
		t.Fatalf("parse: %v %v", err, spec.Skipped)
	}
	objs, err := manifests.Split(stream)
	if err != nil {
		t.Fatal(err)
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	var triggers []string
	for _, o := range objs {
		switch o.Kind {
		case "EventPolicy":
			var p v1alpha1.EventPolicy
			if err := yaml.UnmarshalStrict(o.Raw, &p); err != nil {
				t.Fatal(err)
			}
			indexer.Add(&p)
		case "Trigger":
			triggers = append(triggers, o.Name)
		}
	}
	lister := listers.NewEventPolicyLister(indexer)
	const ns = "parley"
	triggerGVK := eventingv1.SchemeGroupVersion.WithKind("Trigger")
	subject := func(sa string) string { return "system:serviceaccount:" + ns + ":" + sa }
	subjects := []string{subject("auth"), subject("moderation"), subject("persist"), subject("notification"),
		subject("search"), subject("thumbnail"), subject("connector"), subject("default"), "system:serviceaccount:elsewhere:auth"}
	for _, tr := range triggers {
		subjects = append(subjects, subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: tr, Namespace: ns})))
	}
	types := append(eventsv1.Types(), "parley.other")
	sources := []string{eventsv1.SourceAuth, eventsv1.SourceModeration, eventsv1.SourcePersist, eventsv1.SourceThumbnail,
		eventsv1.SourceConnector + "connector-1", "evil"}
	logger := zap.NewNop().Sugar()

	for _, target := range []struct {
		gvk      schema.GroupVersionKind
		name     string
		mustPass []string // subject|type|source the manifests are there to let in
	}{
		{eventingv1.SchemeGroupVersion.WithKind("Broker"), "default", []string{
			subject("auth") + "|" + eventsv1.TypeUserCreated + "|" + eventsv1.SourceAuth,
			subject("moderation") + "|" + eventsv1.TypeMessageRestored + "|" + eventsv1.SourceModeration,
		}},
		{v1alpha1.SchemeGroupVersion.WithKind("KafkaSink"), "parley-dead-letter", []string{
			subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: "persist-message-sent", Namespace: ns})) +
				"|" + eventsv1.TypeMessageSent + "|" + eventsv1.SourceConnector + "connector-1",
			// search's own policy, beside the one for the other Triggers
			subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: "search-messages", Namespace: ns})) +
				"|" + eventsv1.TypeMessageStored + "|" + eventsv1.SourcePersist,
			// thumbnail's own policy
			subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: "thumbnail-file-uploaded", Namespace: ns})) +
				"|" + eventsv1.TypeFileUploaded + "|" + eventsv1.SourceConnector + "connector-1",
			subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: "persist-message-changes", Namespace: ns})) +
				"|" + eventsv1.TypeFileThumbnailed + "|" + eventsv1.SourceThumbnail,
		}},
	} {
		kind := target.gvk.Kind
		policies, err := auth.GetEventPoliciesForResource(lister, target.gvk, metav1.ObjectMeta{Name: target.name, Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		var swf []auth.SubjectsWithFilters
		listedBy := map[string]string{}
		for _, p := range policies {
			var subs []string
			for _, from := range p.Spec.From {
				switch {
				case from.Sub != nil:
					subs = append(subs, *from.Sub)
				case from.Ref != nil && from.Ref.Kind == "Trigger":
					subs = append(subs, subject(auth.GetOIDCServiceAccountNameForResource(triggerGVK, metav1.ObjectMeta{Name: from.Ref.Name, Namespace: ns})))
				default:
					t.Fatalf("policy %s: a from the test cannot resolve: %+v", p.Name, from)
				}
				if other, twice := listedBy[subs[len(subs)-1]]; twice {
					t.Errorf("%s is listed by both %s and %s", subs[len(subs)-1], other, p.Name)
				}
				listedBy[subs[len(subs)-1]] = p.Name
			}
			swf = append(swf, auth.SubjectsWithFilters{Subjects: subs, Filters: p.Spec.Filters})
		}
		if len(swf) == 0 {
			t.Fatalf("no EventPolicy applies to %s %s", kind, target.name)
		}
		authorizer := emulator.NewAuthorizer(spec.EventPolicies, ns, kind, target.name, emulator.AuthorizationDenyAll)
		mustPass := map[string]bool{}
		for _, m := range target.mustPass {
			mustPass[m] = true
		}
		allowed := 0
		for _, sub := range subjects {
			for _, typ := range types {
				for _, src := range sources {
					e := event.New()
					e.SetID("1")
					e.SetType(typ)
					e.SetSource(src)
					knative := auth.SubjectAndFiltersPass(context.Background(), sub, swf, &e, logger)
					emulated := authorizer.Allow(sub, e) == nil
					if knative != emulated {
						t.Errorf("%s %s: %s sending %s from %s: Knative allows=%v, the emulator allows=%v",
							kind, target.name, sub, typ, src, knative, emulated)
					}
					if knative {
						allowed++
					}
					if key := sub + "|" + typ + "|" + src; mustPass[key] && !knative {
						t.Errorf("%s %s refuses %s", kind, target.name, key)
					}
				}
			}
		}
		if allowed == 0 {
			t.Errorf("%s %s: nothing is allowed", kind, target.name)
		}
	}
}
