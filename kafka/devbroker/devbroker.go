// Package devbroker embeds a single-node Kafka-protocol broker (franz-go's
// kfake) for `make run` and the tests. Real clients, confluent-kafka-go
// included, talk to it unchanged. With a data directory its log and consumer
// group offsets survive restarts. With users it demands a SASL login and
// enforces their ACLs, as the cluster does.
package devbroker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
)

// Config configures the embedded broker.
type Config struct {
	// Port to listen on at 127.0.0.1; zero picks a free port.
	Port int
	// DataDir persists the log; empty keeps everything in memory.
	DataDir string
	// Topics to create when missing; nil means kafka.Topics().
	Topics []kafka.Topic
	// SyncWrites fsyncs every produce so an acked event survives a crash of this process.
	SyncWrites bool
	// Users, when set, are the only logins (SASL SCRAM-SHA-512), each
	// allowed only what its ACLs say: kafka.Users(), with passwords, for
	// the cluster's. Nil leaves the broker open to anyone who reaches it.
	Users []kafka.User
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	admin   kafka.Credentials // a superuser for this process alone
}

// kfake would restore the logins and ACLs an earlier run saved in DataDir
// over the configured ones; these files are removed before it starts, so
// the configuration is all there is (a new password or ACL takes effect,
// an old one stops working).
var savedAuthFiles = []string{"sasl.json", "acls.json"}

// Start runs the broker and creates the configured topics.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	topics := cfg.Topics
	if topics == nil {
		var err error
		if topics, err = kafka.Topics(); err != nil {
			return nil, err
		}
	}
	opts := []kfake.Opt{kfake.Ports(cfg.Port), kfake.ClusterID("parley-dev")}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	var admin kafka.Credentials
	if len(cfg.Users) > 0 {
		// Never written anywhere: it lives as long as this process's broker.
		admin = kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: "devbroker-admin", Password: rand.Text()}
		opts = append(opts, kfake.EnableSASL(), kfake.EnableACLs(),
			kfake.Superuser(admin.Mechanism, admin.Username, admin.Password))
		for _, u := range cfg.Users {
			if u.Name == "" || u.Password == "" || u.Name == admin.Username {
				return nil, fmt.Errorf("devbroker: user %q: a name (not %s) and a password are required", u.Name, admin.Username)
			}
			opts = append(opts, kfake.User(kafka.MechanismSCRAMSHA512, u.Name, u.Password))
		}
		if cfg.DataDir != "" {
			for _, f := range savedAuthFiles {
				if err := os.Remove(filepath.Join(cfg.DataDir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("devbroker: %w", err)
				}
			}
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("devbroker: start on port %d: %w", cfg.Port, err)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0], admin: admin}
	if err := b.setUp(ctx, topics, cfg.Users); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

// Addr is the bootstrap address, host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, flushing its data directory.
func (b *Broker) Close() { b.cluster.Close() }

// setUp creates the topics and the users' ACLs. kfake seeds ACLs only into
// a new data directory; creating them here covers a reused one as well.
func (b *Broker) setUp(ctx context.Context, topics []kafka.Topic, users []kafka.User) error {
	auth, err := kgoauth.Opts(b.admin)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(append(auth, kgo.SeedBrokers(b.addr))...)
	if err != nil {
		return fmt.Errorf("devbroker: admin client: %w", err)
	}
	defer cl.Close()
	if err := createTopics(ctx, kadm.NewClient(cl), topics); err != nil {
		return err
	}
	return createACLs(ctx, cl, users)
}

func createTopics(ctx context.Context, adm *kadm.Client, topics []kafka.Topic) error {
	for _, t := range topics {
		cfg := make(map[string]*string, len(t.Config))
		for k, v := range t.Config {
			cfg[k] = &v
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, 1, cfg, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("devbroker: create topic %s: %w", t.Name, err)
		}
	}
	return nil
}

func createACLs(ctx context.Context, cl *kgo.Client, users []kafka.User) error {
	req := kmsg.NewPtrCreateACLsRequest()
	for _, u := range users {
		for _, a := range u.ACLs {
			resource, err := kmsg.ParseACLResourceType(a.Type)
			if err != nil || resource == kmsg.ACLResourceTypeAny || resource == kmsg.ACLResourceTypeUnknown {
				return fmt.Errorf("devbroker: user %s: resource type %q", u.Name, a.Type)
			}
			name, pattern := a.Name, kmsg.ACLResourcePatternTypeLiteral
			if resource == kmsg.ACLResourceTypeCluster {
				name = "kafka-cluster" // Kafka's one cluster resource
			}
			if a.Prefix {
				pattern = kmsg.ACLResourcePatternTypePrefixed
			}
			for _, o := range a.Operations {
				op, err := kmsg.ParseACLOperation(o)
				if err != nil || op == kmsg.ACLOperationAny || op == kmsg.ACLOperationUnknown {
					return fmt.Errorf("devbroker: user %s: operation %q", u.Name, o)
				}
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = resource, name, pattern
				c.Principal, c.Host, c.Operation = "User:"+u.Name, "*", op
				c.PermissionType = kmsg.ACLPermissionTypeAllow
				req.Creations = append(req.Creations, c)
			}
		}
	}
	if len(req.Creations) == 0 {
		return nil
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("devbroker: create ACLs: %w", err)
	}
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return fmt.Errorf("devbroker: create ACL %+v: %w", req.Creations[i], err)
		}
	}
	return nil
}
