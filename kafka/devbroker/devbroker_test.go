package devbroker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
)

const (
	brokerTopic = "parley-events"
	deadLetter  = "parley-dead-letter"
)

// clusterUsers are the cluster's KafkaUsers with the given passwords.
func clusterUsers(t *testing.T, passwords map[string]string) []kafka.User {
	t.Helper()
	users, err := kafka.Users()
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		users[i].Password = passwords[users[i].Name]
	}
	return users
}

func login(user, password string) kafka.Credentials {
	return kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: user, Password: password}
}

func client(t *testing.T, b *Broker, c kafka.Credentials, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	auth, err := kgoauth.Opts(c)
	if err != nil {
		t.Fatal(err)
	}
	// A refused login looks like a broken connection, which a client retries
	// until its records time out: a second is plenty for a local broker.
	cl, err := kgo.NewClient(append(append(auth, kgo.SeedBrokers(b.Addr()),
		kgo.RecordDeliveryTimeout(time.Second), kgo.RetryTimeout(time.Second)), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(cl *kgo.Client, topic string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

// consume returns the first fetch error or nil once a record arrives. An
// authorization error comes back at once; a record can take a fetch's
// whole wait (franz-go's 5 s): franz-go does not cut short a fetch in
// flight when another partition becomes fetchable (kgo's source.go), so a
// fetch sent to the record's leader before its partition was ready holds
// it until it times out. CI saw a 5 s deadline pass without the record and
// without an error, most likely so; hence the longer one.
func consume(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			return err
		}
		if fetches.NumRecords() > 0 {
			return nil
		}
	}
}

func TestOnlyTheClusterUsersGetInWithTheirACLs(t *testing.T) {
	pw := map[string]string{"parley-connector": "connector-pw", "parley-knative": "knative-pw", "parley-search-rebuild": "rebuild-pw"}
	b, err := Start(context.Background(), Config{Users: clusterUsers(t, pw)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	connector := login("parley-connector", pw["parley-connector"])
	knative := login("parley-knative", pw["parley-knative"])

	if err := produce(client(t, b, kafka.Credentials{}), brokerTopic); err == nil {
		t.Error("a client without a login produced to the Broker's topic")
	}
	if err := produce(client(t, b, login("parley-connector", "guessed")), brokerTopic); err == nil {
		t.Error("a wrong password produced to the Broker's topic")
	}
	if err := produce(client(t, b, connector), brokerTopic); err != nil {
		t.Fatalf("the connector cannot produce to the Broker's topic: %v", err)
	}
	if err := produce(client(t, b, connector), deadLetter); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("the connector writing another topic got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	read := client(t, b, connector, kgo.ConsumeTopics(brokerTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := consume(read); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("the connector reading the Broker's topic got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// The Broker's data plane reads in its Triggers' groups, and no other.
	trigger := client(t, b, knative, kgo.ConsumeTopics(brokerTopic), kgo.ConsumerGroup("knative-trigger-parley-persist"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := consume(trigger); err != nil {
		t.Errorf("a Trigger cannot read the Broker's topic: %v", err)
	}
	other := client(t, b, knative, kgo.ConsumeTopics(brokerTopic), kgo.ConsumerGroup("someone-else"))
	if err := consume(other); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Errorf("the data plane in a foreign group got %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	if err := produce(client(t, b, knative), deadLetter); err != nil {
		t.Errorf("the data plane cannot write dead letters: %v", err)
	}

	// Search's rebuild reads the Broker's topic by partition, and writes nothing.
	rebuild := login("parley-search-rebuild", pw["parley-search-rebuild"])
	replay := client(t, b, rebuild, kgo.ConsumeTopics(brokerTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := consume(replay); err != nil {
		t.Errorf("search's rebuild cannot read the Broker's topic: %v", err)
	}
	// Its idempotent producer is refused at the cluster before the topic.
	if err := produce(client(t, b, rebuild), brokerTopic); !errors.Is(err, kerr.TopicAuthorizationFailed) &&
		!errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("search's rebuild writing the Broker's topic got %v, want an authorization failure", err)
	}
}

// A data directory keeps the log, but logins and ACLs come from the
// configuration of each start: a changed password replaces the old one.
func TestARestartTakesTheConfiguredLogins(t *testing.T) {
	dir := t.TempDir()
	start := func(connectorPW string) *Broker {
		t.Helper()
		b, err := Start(context.Background(), Config{DataDir: dir,
			Users: clusterUsers(t, map[string]string{"parley-connector": connectorPW, "parley-knative": "knative-pw",
				"parley-search-rebuild": "rebuild-pw"})})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start("old-pw")
	if err := produce(client(t, b, login("parley-connector", "old-pw")), brokerTopic); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = start("new-pw")
	t.Cleanup(b.Close)
	if err := produce(client(t, b, login("parley-connector", "old-pw")), brokerTopic); err == nil {
		t.Error("the old password still logs in")
	}
	if err := produce(client(t, b, login("parley-connector", "new-pw")), brokerTopic); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	if err := produce(client(t, b, login("parley-connector", "new-pw")), deadLetter); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("after a restart the connector writing another topic got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	read := client(t, b, login("parley-knative", "knative-pw"), kgo.ConsumeTopics(brokerTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := consume(read); err != nil {
		t.Errorf("the record from before the restart cannot be read: %v", err)
	}
}
