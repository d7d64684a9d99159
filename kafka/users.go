package kafka

import (
	_ "embed"
	"fmt"
	"regexp"

	"sigs.k8s.io/yaml"
)

// The cluster's KafkaUsers. The embedded development broker gives the same
// users the same ACLs, so a client can do locally no more than on a cluster.
//
//go:embed users.yaml
var usersFile []byte

// User is a Kafka login and what it may do: the part of a Strimzi KafkaUser
// (SCRAM authentication, simple authorization) that a broker needs.
type User struct {
	Name     string
	Password string // empty in kafka.Users(): each installation generates its own
	ACLs     []ACL
}

// ACL allows Operations on one resource or, with Prefix, on every resource
// whose name starts with Name. Spelled as in Strimzi: Type is topic, group,
// cluster or transactionalId; operations are Read, Write, Describe, …
type ACL struct {
	Type       string
	Name       string
	Prefix     bool
	Operations []string
}

type kafkaUser struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Authentication struct {
			Type string `json:"type"`
		} `json:"authentication"`
		Authorization struct {
			Type string `json:"type"`
			ACLs []struct {
				Resource struct {
					Type        string `json:"type"`
					Name        string `json:"name"`
					PatternType string `json:"patternType"`
				} `json:"resource"`
				Operations []string `json:"operations"`
			} `json:"acls"`
		} `json:"authorization"`
	} `json:"spec"`
}

// Users returns the KafkaUsers of kafka/users.yaml, without passwords.
func Users() ([]User, error) {
	return parseUsers(usersFile)
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func parseUsers(data []byte) ([]User, error) {
	var out []User
	for _, doc := range docSeparator.Split(string(data), -1) {
		var ku kafkaUser
		if err := yaml.Unmarshal([]byte(doc), &ku); err != nil {
			return nil, fmt.Errorf("kafka: users.yaml: %w", err)
		}
		if ku.Kind == "" {
			continue // comments only
		}
		if ku.Kind != "KafkaUser" || ku.Metadata.Name == "" {
			return nil, fmt.Errorf("kafka: users.yaml: want named KafkaUsers, got kind %q name %q", ku.Kind, ku.Metadata.Name)
		}
		if ku.Spec.Authentication.Type != "scram-sha-512" || ku.Spec.Authorization.Type != "simple" {
			return nil, fmt.Errorf("kafka: users.yaml: user %s: want scram-sha-512 authentication and simple authorization", ku.Metadata.Name)
		}
		u := User{Name: ku.Metadata.Name}
		for _, a := range ku.Spec.Authorization.ACLs {
			acl := ACL{Type: a.Resource.Type, Name: a.Resource.Name, Operations: a.Operations}
			switch a.Resource.PatternType {
			case "", "literal":
			case "prefix":
				acl.Prefix = true
			default:
				return nil, fmt.Errorf("kafka: users.yaml: user %s: unknown patternType %q", u.Name, a.Resource.PatternType)
			}
			u.ACLs = append(u.ACLs, acl)
		}
		out = append(out, u)
	}
	return out, nil
}
