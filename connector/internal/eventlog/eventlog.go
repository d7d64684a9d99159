// Package eventlog appends CloudEvents to the Broker's Kafka topic in binary
// content mode, as the Knative Kafka Broker stores them, with an idempotent
// producer (acks=all). Append returns only once Kafka has the event: the
// connector acks a message to its sender after that, never before.
package eventlog

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	rdkafka "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/cekafka"
)

// Config configures the producer.
type Config struct {
	Brokers string // bootstrap servers, comma-separated; required
	Topic   string // the Broker's topic; required
	// Timeout bounds one append including librdkafka's internal retries. Default 5s.
	Timeout time.Duration
	// Auth is the producer's login; the zero value means none (PLAINTEXT).
	// With TLS, the broker's certificate is checked against the system's CAs.
	Auth kafka.Credentials
}

// Log is a Kafka topic to append events to. Safe for concurrent use.
type Log struct {
	p     *rdkafka.Producer
	topic string
}

// New connects the producer. Kafka being down is not an error here: appends
// fail (and senders get an error frame) until it is back.
func New(cfg Config) (*Log, error) {
	if cfg.Brokers == "" || cfg.Topic == "" {
		return nil, fmt.Errorf("eventlog: brokers and topic are required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	conf := rdkafka.ConfigMap{
		"bootstrap.servers":  cfg.Brokers,
		"enable.idempotence": true, // implies acks=all and ordered, de-duplicated retries
		"acks":               "all",
		"linger.ms":          0, // send at once: batches still form while requests are in flight
		// Nagle's algorithm with delayed ACKs adds up to 40 ms per request.
		"socket.nagle.disable": true,
		// The Java client's partitioner, so every producer (this one, the
		// Broker's replies) puts a room's events on the same partition.
		"partitioner":               "murmur2_random",
		"message.timeout.ms":        int(cfg.Timeout.Milliseconds()),
		"enable.metrics.push":       false,
		"go.delivery.report.fields": "key",
		// Delivery reports go to each Append's own channel and the produce
		// channel is unused, so the client's default million-slot channels
		// (16 MB of heap) would only ever hold errors and logs.
		"go.events.channel.size":  1000,
		"go.produce.channel.size": 1,
		"security.protocol":       cfg.Auth.Protocol(),
	}
	if cfg.Auth.Username != "" {
		conf["sasl.mechanisms"] = cfg.Auth.Mechanism
		conf["sasl.username"] = cfg.Auth.Username
		conf["sasl.password"] = cfg.Auth.Password
	}
	p, err := rdkafka.NewProducer(&conf)
	if err != nil {
		return nil, fmt.Errorf("eventlog: producer: %w", err)
	}
	l := &Log{p: p, topic: cfg.Topic}
	go l.drainEvents()
	return l, nil
}

// drainEvents consumes the producer's general event channel (errors, logs)
// so it never fills up; delivery reports go to per-append channels.
func (l *Log) drainEvents() {
	for range l.p.Events() {
	}
}

// Append writes e and waits for Kafka's acknowledgement or ctx.
func (l *Log) Append(ctx context.Context, e event.Event) error {
	key, headers, value, err := cekafka.Encode(e)
	if err != nil {
		return err
	}
	msg := &rdkafka.Message{
		TopicPartition: rdkafka.TopicPartition{Topic: &l.topic, Partition: rdkafka.PartitionAny},
		Key:            key, Value: value, Headers: make([]rdkafka.Header, len(headers)),
	}
	for i, h := range headers {
		msg.Headers[i] = rdkafka.Header{Key: h.Key, Value: h.Value}
	}
	done := make(chan rdkafka.Event, 1)
	if err := l.p.Produce(msg, done); err != nil {
		return fmt.Errorf("eventlog: produce: %w", err)
	}
	select {
	case ev := <-done:
		m, ok := ev.(*rdkafka.Message)
		if !ok {
			return fmt.Errorf("eventlog: unexpected delivery event %v", ev)
		}
		if m.TopicPartition.Error != nil {
			return fmt.Errorf("eventlog: delivery: %w", m.TopicPartition.Error)
		}
		return nil
	case <-ctx.Done():
		// The event may still be delivered; the sender retries with the same
		// client_msg_id and de-duplication keeps it single.
		return ctx.Err()
	}
}

// Close flushes pending events (up to timeout) and closes the producer.
func (l *Log) Close(timeout time.Duration) {
	l.p.Flush(int(timeout.Milliseconds()))
	l.p.Close()
}
