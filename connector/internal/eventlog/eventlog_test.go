package eventlog

import (
	"context"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/devbroker"
)

// The connector logs in as the cluster's parley-connector user, on a local
// broker that enforces that user's ACLs.
func TestAppendLogsInAndStaysWithinItsACLs(t *testing.T) {
	users, err := kafka.Users()
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		users[i].Password = users[i].Name + "-test-pw"
	}
	kb, err := devbroker.Start(context.Background(), devbroker.Config{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kb.Close)
	connector := kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: "parley-connector", Password: "parley-connector-test-pw"}

	e := event.New()
	e.SetID("e1")
	e.SetSource("eventlog-test")
	e.SetType("parley.message.sent")
	tests := map[string]struct {
		topic string
		auth  kafka.Credentials
		ok    bool
	}{
		"the connector's login, the Broker's topic": {topic: "parley-events", auth: connector, ok: true},
		"no login":       {topic: "parley-events"},
		"another topic":  {topic: "parley-dead-letter", auth: connector},
		"wrong password": {topic: "parley-events", auth: kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: "parley-connector", Password: "guess"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A refused login is retried until the timeout: keep it short,
			// but not for the append that must pass (on a busy machine a
			// first attempt can fail and be retried).
			timeout := time.Second
			if tc.ok {
				timeout = 20 * time.Second
			}
			l, err := New(Config{Brokers: kb.Addr(), Topic: tc.topic, Auth: tc.auth, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close(time.Second)
			err = l.Append(context.Background(), e)
			if tc.ok && err != nil {
				t.Fatalf("append refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("append accepted")
			}
		})
	}
}
