package emulator

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// Trigger start offsets: where a new Trigger's consumer group starts.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest" // Knative's own default
)

// ApplyKnativeConfig sets what the emulator emulates of Knative's own
// ConfigMaps, from the same YAML that make deploy writes into the cluster
// (knative/deploy/knative-config.yaml), so the two cannot drift apart:
//   - config-features (knative-eventing): authentication-oidc and
//     default-authorization-mode;
//   - config-kafka-broker-data-plane: auto.offset.reset in
//     config-kafka-broker-consumer.properties, where a new Trigger starts.
func (c *Config) ApplyKnativeConfig(stream []byte) error {
	objs, err := manifests.Split(stream)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.Kind != "ConfigMap" || o.Namespace != "knative-eventing" {
			continue
		}
		var cm struct {
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal(o.Raw, &cm); err != nil {
			return fmt.Errorf("%s: %w", o, err)
		}
		switch o.Name {
		case "config-features":
			if v, ok := cm.Data["authentication-oidc"]; ok {
				c.OIDC = v == "enabled"
			}
			if v, ok := cm.Data["default-authorization-mode"]; ok {
				c.DefaultAuthorizationMode = v
			}
		case "config-kafka-broker-data-plane":
			props := cm.Data["config-kafka-broker-consumer.properties"]
			sc := bufio.NewScanner(strings.NewReader(props))
			for sc.Scan() {
				k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
				if ok && strings.TrimSpace(k) == "auto.offset.reset" {
					c.TriggerStart = strings.TrimSpace(v)
				}
			}
		}
	}
	switch c.DefaultAuthorizationMode {
	case "", AuthorizationAllowSameNamespace, AuthorizationDenyAll, AuthorizationAllowAll:
	default:
		return fmt.Errorf("default-authorization-mode %q is not one Knative knows", c.DefaultAuthorizationMode)
	}
	switch c.TriggerStart {
	case "", StartEarliest, StartLatest:
	default:
		return fmt.Errorf("auto.offset.reset %q: want earliest or latest", c.TriggerStart)
	}
	return nil
}

// triggerStart is the offset a Trigger's new consumer group resets to.
func (em *Emulator) triggerStart() kgo.Offset {
	if em.cfg.TriggerStart == StartLatest {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}
