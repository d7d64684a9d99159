// Package kafka holds Parley's Kafka topic definitions, shared by the cluster
// (Strimzi KafkaTopic resources) and the embedded development broker.
package kafka

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"sigs.k8s.io/yaml"
)

//go:embed topics/*.yaml
var topicFiles embed.FS

// Topic is the part of a Strimzi KafkaTopic that a broker needs to create it.
type Topic struct {
	Name       string
	Partitions int32
	Config     map[string]string
}

type kafkaTopic struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Partitions int32             `json:"partitions"`
		Replicas   int32             `json:"replicas"`
		Config     map[string]string `json:"config"`
	} `json:"spec"`
}

// Topics returns the topic definitions in kafka/topics, sorted by name.
func Topics() ([]Topic, error) {
	return LoadTopics(topicFiles)
}

// LoadTopics reads every topics/*.yaml KafkaTopic in fsys.
func LoadTopics(fsys fs.FS) ([]Topic, error) {
	names, err := fs.Glob(fsys, "topics/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []Topic
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		t, err := parseTopic(data)
		if err != nil {
			return nil, fmt.Errorf("kafka: %s: %w", name, err)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func parseTopic(data []byte) (Topic, error) {
	var kt kafkaTopic
	if err := yaml.Unmarshal(bytes.TrimSpace(data), &kt); err != nil {
		return Topic{}, err
	}
	if kt.Kind != "KafkaTopic" {
		return Topic{}, fmt.Errorf("kind %q, want KafkaTopic", kt.Kind)
	}
	if kt.Metadata.Name == "" {
		return Topic{}, fmt.Errorf("metadata.name is empty")
	}
	if kt.Spec.Partitions < 1 {
		return Topic{}, fmt.Errorf("topic %s: spec.partitions must be at least 1", kt.Metadata.Name)
	}
	return Topic{Name: kt.Metadata.Name, Partitions: kt.Spec.Partitions, Config: kt.Spec.Config}, nil
}
