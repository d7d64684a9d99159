package validate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// KnativeConfigFile holds the settings make deploy writes into Knative's own
// ConfigMaps (knative/deploy/knative-config.yaml). Objects are validated
// with them, as the cluster's webhooks would: an EventPolicy, for one, is
// only accepted once OIDC authentication is enabled there.
func KnativeConfigFile() string {
	return filepath.Join(manifests.Dir("deploy"), "knative-config.yaml")
}

// KnativeConfig returns the ConfigMaps of KnativeConfigFile, by
// namespace/name.
func KnativeConfig() (map[string]corev1.ConfigMap, error) {
	b, err := os.ReadFile(KnativeConfigFile())
	if err != nil {
		return nil, fmt.Errorf("knative config: %w", err)
	}
	objs, err := manifests.Split(b)
	if err != nil {
		return nil, fmt.Errorf("knative config: %w", err)
	}
	out := map[string]corev1.ConfigMap{}
	for _, o := range objs {
		var cm corev1.ConfigMap
		if o.APIVersion != "v1" || o.Kind != "ConfigMap" {
			return nil, fmt.Errorf("knative config: %s: only ConfigMaps belong here", o)
		}
		if err := yaml.UnmarshalStrict(o.Raw, &cm); err != nil {
			return nil, fmt.Errorf("knative config: %s: %w", o, err)
		}
		out[cm.Namespace+"/"+cm.Name] = cm
	}
	return out, nil
}

var eventingFeatures = sync.OnceValues(func() (feature.Flags, error) {
	cms, err := KnativeConfig()
	if err != nil {
		return nil, err
	}
	return feature.NewFlagsConfigFromMap(cms["knative-eventing/config-features"].Data)
})

// clusterContext carries the cluster's Knative settings to the webhooks'
// validation code.
func clusterContext(ctx context.Context) (context.Context, error) {
	flags, err := eventingFeatures()
	if err != nil {
		return nil, err
	}
	return feature.ToContext(ctx, flags), nil
}
