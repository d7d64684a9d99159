package validate

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Strimzi publishes no Go API types, so these mirror the parts of its
// kafka.strimzi.io/v1beta2 schema Parley uses. Decoding is strict: a field
// outside them is an error until someone adds it here on purpose.

const strimziCluster = "strimzi.io/cluster"

type kafkaTopic struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Partitions int32             `json:"partitions"`
		Replicas   int32             `json:"replicas"`
		Config     map[string]string `json:"config,omitempty"`
	} `json:"spec"`
}

type kafkaNodePool struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Replicas int32    `json:"replicas"`
		Roles    []string `json:"roles"`
		Storage  struct {
			Type    string `json:"type"`
			Volumes []struct {
				ID            int    `json:"id"`
				Type          string `json:"type"`
				Size          string `json:"size,omitempty"`
				DeleteClaim   bool   `json:"deleteClaim,omitempty"`
				KraftMetadata string `json:"kraftMetadata,omitempty"`
			} `json:"volumes,omitempty"`
		} `json:"storage"`
		Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	} `json:"spec"`
}

type kafkaCluster struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Kafka struct {
			Version   string `json:"version"`
			Listeners []struct {
				Name           string `json:"name"`
				Port           int32  `json:"port"`
				Type           string `json:"type"`
				TLS            bool   `json:"tls"`
				Authentication *struct {
					Type string `json:"type"`
				} `json:"authentication,omitempty"`
				NetworkPolicyPeers []networkingv1.NetworkPolicyPeer `json:"networkPolicyPeers,omitempty"`
			} `json:"listeners"`
			Authorization *struct {
				Type string `json:"type"`
			} `json:"authorization,omitempty"`
			Config map[string]any `json:"config,omitempty"`
		} `json:"kafka"`
		EntityOperator *struct {
			TopicOperator *struct{} `json:"topicOperator,omitempty"`
			UserOperator  *struct{} `json:"userOperator,omitempty"`
		} `json:"entityOperator,omitempty"`
		KafkaExporter *struct {
			TopicRegex string `json:"topicRegex,omitempty"`
			GroupRegex string `json:"groupRegex,omitempty"`
			Template   *struct {
				Pod *struct {
					Metadata *struct {
						Labels      map[string]string `json:"labels,omitempty"`
						Annotations map[string]string `json:"annotations,omitempty"`
					} `json:"metadata,omitempty"`
				} `json:"pod,omitempty"`
			} `json:"template,omitempty"`
		} `json:"kafkaExporter,omitempty"`
	} `json:"spec"`
}

type kafkaUser struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Authentication struct {
			Type string `json:"type"`
		} `json:"authentication"`
		Authorization *struct {
			Type string `json:"type"`
			ACLs []struct {
				Resource struct {
					Type        string `json:"type"`
					Name        string `json:"name,omitempty"`
					PatternType string `json:"patternType,omitempty"`
				} `json:"resource"`
				Operations []string `json:"operations"`
				Host       string   `json:"host,omitempty"`
			} `json:"acls"`
		} `json:"authorization,omitempty"`
	} `json:"spec"`
}

// ignoredKafkaAnnotations are what Strimzi 0.48 no longer reads: KRaft and
// node pools are the only mode. Left in a manifest they only mislead.
var ignoredKafkaAnnotations = []string{"strimzi.io/kraft", "strimzi.io/node-pools"}

// aclOperations are the operations Strimzi's simple authorization accepts.
var aclOperations = []string{"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
	"AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"}

var strimziKinds = map[string]func(raw []byte) error{
	"kafka.strimzi.io/v1beta2/KafkaTopic": strict(func(t *kafkaTopic) error {
		var errs []error
		if t.Metadata.Labels[strimziCluster] == "" {
			errs = append(errs, fmt.Errorf("metadata.labels[%s] names no cluster: the topic operator would ignore it", strimziCluster))
		}
		if t.Spec.Partitions < 1 || t.Spec.Replicas < 1 {
			errs = append(errs, errors.New("spec.partitions and spec.replicas must be at least 1"))
		}
		return errors.Join(errs...)
	}),
	"kafka.strimzi.io/v1beta2/KafkaNodePool": strict(func(p *kafkaNodePool) error {
		var errs []error
		if p.Metadata.Labels[strimziCluster] == "" {
			errs = append(errs, fmt.Errorf("metadata.labels[%s] names no cluster", strimziCluster))
		}
		if p.Spec.Replicas < 1 || len(p.Spec.Roles) == 0 {
			errs = append(errs, errors.New("spec.replicas and spec.roles are required"))
		}
		for _, r := range p.Spec.Roles {
			if r != "controller" && r != "broker" {
				errs = append(errs, fmt.Errorf("spec.roles: unknown role %q", r))
			}
		}
		if !slices.Contains([]string{"jbod", "persistent-claim", "ephemeral"}, p.Spec.Storage.Type) {
			errs = append(errs, fmt.Errorf("spec.storage.type %q: want jbod, persistent-claim or ephemeral", p.Spec.Storage.Type))
		}
		return errors.Join(errs...)
	}),
	"kafka.strimzi.io/v1beta2/Kafka": strict(func(k *kafkaCluster) error {
		var errs []error
		for _, a := range ignoredKafkaAnnotations {
			if _, ok := k.Metadata.Annotations[a]; ok {
				errs = append(errs, fmt.Errorf("metadata.annotations[%s]: Strimzi 0.48 ignores it (KRaft with node pools is the only mode); remove it", a))
			}
		}
		if k.Spec.Kafka.Version == "" || len(k.Spec.Kafka.Listeners) == 0 {
			errs = append(errs, errors.New("spec.kafka.version and spec.kafka.listeners are required"))
		}
		for _, l := range k.Spec.Kafka.Listeners {
			// Strimzi keeps the ports below 9092 and 9404 (metrics) for itself.
			if l.Port < 9092 || l.Port == 9404 || l.Name == "" {
				errs = append(errs, fmt.Errorf("listener %q on port %d: needs a name and a port from 9092, not 9404", l.Name, l.Port))
			}
			if l.Authentication != nil && !slices.Contains([]string{"scram-sha-512", "tls", "custom"}, l.Authentication.Type) {
				errs = append(errs, fmt.Errorf("listener %q: authentication type %q: want scram-sha-512, tls or custom", l.Name, l.Authentication.Type))
			}
			for i, peer := range l.NetworkPolicyPeers {
				for _, sel := range []*metav1.LabelSelector{peer.PodSelector, peer.NamespaceSelector} {
					if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
						errs = append(errs, fmt.Errorf("listener %q networkPolicyPeers[%d]: %w", l.Name, i, err))
					}
				}
			}
		}
		return errors.Join(errs...)
	}),
	"kafka.strimzi.io/v1beta2/KafkaUser": strict(func(u *kafkaUser) error {
		var errs []error
		if u.Metadata.Labels[strimziCluster] == "" {
			errs = append(errs, fmt.Errorf("metadata.labels[%s] names no cluster: the user operator would ignore it", strimziCluster))
		}
		if !slices.Contains([]string{"scram-sha-512", "tls", "tls-external"}, u.Spec.Authentication.Type) {
			errs = append(errs, fmt.Errorf("spec.authentication.type %q: want scram-sha-512, tls or tls-external", u.Spec.Authentication.Type))
		}
		if a := u.Spec.Authorization; a != nil {
			for i, acl := range a.ACLs {
				if !slices.Contains([]string{"topic", "group", "cluster", "transactionalId"}, acl.Resource.Type) {
					errs = append(errs, fmt.Errorf("acls[%d]: resource type %q: want topic, group, cluster or transactionalId", i, acl.Resource.Type))
				}
				if acl.Resource.Type != "cluster" && acl.Resource.Name == "" {
					errs = append(errs, fmt.Errorf("acls[%d]: a %s ACL needs a resource name", i, acl.Resource.Type))
				}
				if len(acl.Operations) == 0 {
					errs = append(errs, fmt.Errorf("acls[%d]: operations are required", i))
				}
				for _, op := range acl.Operations {
					if !slices.Contains(aclOperations, op) {
						errs = append(errs, fmt.Errorf("acls[%d]: unknown operation %q", i, op))
					}
				}
			}
		}
		return errors.Join(errs...)
	}),
}

// checkStrimziReferences checks what no single object shows: topics, node
// pools and users name an existing cluster, no topic wants more replicas
// than the cluster has brokers, and users' topic ACLs name defined topics.
func checkStrimziReferences(topics []kafkaTopic, pools []kafkaNodePool, users []kafkaUser, clusters map[string]bool) error {
	var errs []error
	brokers := map[string]int32{}
	for _, p := range pools {
		c := p.Metadata.Labels[strimziCluster]
		if !clusters[c] {
			errs = append(errs, fmt.Errorf("KafkaNodePool %s: cluster %q is not defined", p.Metadata.Name, c))
		}
		if slices.Contains(p.Spec.Roles, "broker") {
			brokers[c] += p.Spec.Replicas
		}
	}
	for _, t := range topics {
		c := t.Metadata.Labels[strimziCluster]
		if !clusters[c] {
			errs = append(errs, fmt.Errorf("KafkaTopic %s: cluster %q is not defined", t.Metadata.Name, c))
		} else if t.Spec.Replicas > brokers[c] {
			errs = append(errs, fmt.Errorf("KafkaTopic %s: %d replicas on a cluster of %d brokers", t.Metadata.Name, t.Spec.Replicas, brokers[c]))
		}
	}
	// A literal topic ACL naming no defined topic is a typo that would
	// surface only as an authorization error on the cluster.
	defined := map[string]bool{}
	for _, t := range topics {
		defined[t.Metadata.Name] = true
	}
	for _, u := range users {
		if c := u.Metadata.Labels[strimziCluster]; !clusters[c] {
			errs = append(errs, fmt.Errorf("KafkaUser %s: cluster %q is not defined", u.Metadata.Name, c))
		}
		if u.Spec.Authorization == nil {
			continue
		}
		for _, acl := range u.Spec.Authorization.ACLs {
			r := acl.Resource
			if r.Type == "topic" && (r.PatternType == "" || r.PatternType == "literal") && !defined[r.Name] {
				errs = append(errs, fmt.Errorf("KafkaUser %s: ACL on topic %q, which no KafkaTopic defines", u.Metadata.Name, r.Name))
			}
		}
	}
	return errors.Join(errs...)
}
