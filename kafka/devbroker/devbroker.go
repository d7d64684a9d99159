// Package devbroker embeds a single-node Kafka-protocol broker (franz-go's
// kfake) for `make run` and the tests. Real clients, confluent-kafka-go
// included, talk to it unchanged. With a data directory its log and consumer
// group offsets survive restarts.
package devbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
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
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

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
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("devbroker: start on port %d: %w", cfg.Port, err)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0]}
	if err := b.createTopics(ctx, topics); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

// Addr is the bootstrap address, host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker, flushing its data directory.
func (b *Broker) Close() { b.cluster.Close() }

func (b *Broker) createTopics(ctx context.Context, topics []kafka.Topic) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return fmt.Errorf("devbroker: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
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
