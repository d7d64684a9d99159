package emulator

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
)

const senderPolicyYAML = `
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: {name: sender, namespace: test}
spec:
  to:
    - ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}
  from:
    - sub: system:serviceaccount:test:sender
  filters:
    - prefix: {source: good/}
    - any:
        - exact: {type: test.allowed}
        - exact: {type: test.reply}
`

func (h *harness) topicRecords(t testing.TB, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(h.client).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func (h *harness) mint(t testing.TB, subject, audience string) string {
	t.Helper()
	token, err := h.em.issuer.Mint(subject, audience, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestIngressTakesOnlyWhatTheEventPoliciesAllow(t *testing.T) {
	h := startEmulator(t, brokerYAML+senderPolicyYAML+serviceYAML("fn", 0)+triggerYAML("t", "test.allowed", "fn", ""),
		func(c *Config) { c.OIDC = true })
	aud := brokerAudience("test", "default")
	sender := h.mint(t, "system:serviceaccount:test:sender", aud)
	good := newEvent("e", "test.allowed", "k", "x")
	good.SetSource("good/one")
	otherType := newEvent("o", "test.other", "k", "x")
	otherType.SetSource("good/one")
	otherSource := newEvent("s", "test.allowed", "k", "x")
	otherSource.SetSource("evil/one")
	for _, c := range []struct {
		name  string
		token string
		e     event.Event
		want  int
	}{
		{"no token", "", good, http.StatusUnauthorized},
		{"a token for another audience", h.mint(t, "system:serviceaccount:test:sender", "eventing.knative.dev/broker/test/other"), good, http.StatusUnauthorized},
		{"a token from another issuer", strings.Replace(sender, ".", "x.", 1), good, http.StatusUnauthorized},
		{"another subject", h.mint(t, "system:serviceaccount:test:stranger", aud), good, http.StatusForbidden},
		{"a type its policy does not allow", sender, otherType, http.StatusForbidden},
		{"a source its policy does not allow", sender, otherSource, http.StatusForbidden},
	} {
		if got := h.postIngressAs(t, c.token, c.e); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	if n := h.topicRecords(t, testTopic); n != 0 {
		t.Fatalf("refused posts produced %d records", n)
	}
	if got := h.postIngressAs(t, sender, good); got != http.StatusAccepted {
		t.Fatalf("allowed post: status %d", got)
	}
	eventually(t, 10*time.Second, "the allowed event delivered", func() bool {
		return h.sink.count(func(r record) bool { return r.ID == "e" }) == 1
	})
}

func TestWithoutOIDCTheIngressTakesAnyPost(t *testing.T) {
	h := startEmulator(t, brokerYAML+senderPolicyYAML, nil)
	if got := h.postIngressAs(t, "", newEvent("e", "test.other", "k", "x")); got != http.StatusAccepted {
		t.Fatalf("status %d", got)
	}
}

func TestNoApplyingPolicyFallsBackToTheDefaultMode(t *testing.T) {
	for mode, want := range map[string]map[string]int{
		AuthorizationAllowSameNamespace: {"system:serviceaccount:test:any": http.StatusAccepted, "system:serviceaccount:other:any": http.StatusForbidden},
		AuthorizationDenyAll:            {"system:serviceaccount:test:any": http.StatusForbidden},
		AuthorizationAllowAll:           {"system:serviceaccount:other:any": http.StatusAccepted},
	} {
		h := startEmulator(t, brokerYAML, func(c *Config) { c.OIDC, c.DefaultAuthorizationMode = true, mode })
		for sub, status := range want {
			if got := h.postIngressAs(t, h.mint(t, sub, brokerAudience("test", "default")), newEvent("e", "t", "k", "x")); got != status {
				t.Errorf("%s, %s: status %d, want %d", mode, sub, got, status)
			}
		}
	}
}

// A Service's manifest projects a service account token for the Broker;
// the emulator writes one, points the env at it and rotates it in place.
func TestServicesGetTheirProjectedTokens(t *testing.T) {
	svc := serviceYAML("fn", 0, "BROKER_TOKEN_FILE", "/var/run/secrets/broker/token") + `
      serviceAccountName: fn-sender
      volumes:
        - name: broker-token
          projected:
            sources:
              - serviceAccountToken: {audience: eventing.knative.dev/broker/test/default, path: token, expirationSeconds: 600}
`
	svc = strings.Replace(svc, "          env:\n", "          volumeMounts: [{name: broker-token, mountPath: /var/run/secrets/broker, readOnly: true}]\n          env:\n", 1)
	svc = strings.Replace(svc, "      timeoutSeconds: 30\n", "", 1)
	svc = strings.Replace(svc, "      serviceAccountName: fn-sender\n", "      serviceAccountName: fn-sender\n      timeoutSeconds: 30\n", 1)
	h := startEmulator(t, brokerYAML+svc, func(c *Config) { c.OIDC = true })
	env, _ := h.em.ServiceEnv("test", "fn")
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "BROKER_TOKEN_FILE="); ok {
			path = v
		}
	}
	if path == "" || path == "/var/run/secrets/broker/token" {
		t.Fatalf("BROKER_TOKEN_FILE=%q, want the emulator's copy", path)
	}
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := read()
	sub, err := h.em.issuer.Verify(first, brokerAudience("test", "default"))
	if err != nil || sub != "system:serviceaccount:test:fn-sender" {
		t.Fatalf("token subject %q, %v", sub, err)
	}
	if err := h.em.writeTokens(); err != nil {
		t.Fatal(err)
	}
	if read() == first {
		t.Error("a rotation left the same token")
	}
}

// On the Kafka Broker a Trigger's replies are produced to the Broker's
// topic by the dispatcher itself, so no EventPolicy applies to them; its
// dead letters are posted to the sink with the Trigger's token, so the
// sink's policies do.
func TestRepliesPassAndDeadLettersNeedThePoliciesOfTheSink(t *testing.T) {
	policies := `
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: {name: dead-letters, namespace: test}
spec:
  to: [{ref: {apiVersion: eventing.knative.dev/v1alpha1, kind: KafkaSink, name: dead-letter}}]
  from: [{ref: {apiVersion: eventing.knative.dev/v1, kind: Trigger, name: listed}}]
`
	dls := "  delivery: {retry: 0, deadLetterSink: {ref: {apiVersion: eventing.knative.dev/v1alpha1, kind: KafkaSink, name: dead-letter}}}\n"
	h := startEmulator(t, brokerYAML+policies+serviceYAML("a", 0)+serviceYAML("b", 0)+
		triggerYAML("ask", "test.reply", "a", "")+triggerYAML("answer", "test.replied", "b", "")+
		triggerYAML("listed", "test.fail", "a", dls)+triggerYAML("unlisted", "test.fail", "b", dls),
		func(c *Config) { c.OIDC, c.DefaultAuthorizationMode = true, AuthorizationDenyAll })
	h.produce(t, newEvent("q1", "test.reply", "room-1", "ping"), newEvent("f1", "test.fail", "room-1", "x"))
	eventually(t, 10*time.Second, "the reply delivered to b", func() bool {
		return h.sink.count(func(r record) bool { return r.Tag == "b" && r.ID == "q1-reply" }) == 1
	})
	eventually(t, 10*time.Second, "the unlisted Trigger's dead letter refused", func() bool {
		return testutil.ToFloat64(h.em.metrics.deadLettered.WithLabelValues("test/unlisted", "failed")) == 1
	})
	if rec := h.firstDeadLetter(t); string(rec.Value) != "x" {
		t.Fatalf("dead letter %v", rec)
	}
	eventually(t, 10*time.Second, "the listed Trigger's dead letter stored", func() bool {
		return testutil.ToFloat64(h.em.metrics.deadLettered.WithLabelValues("test/listed", "ok")) == 1
	})
	if n := h.topicRecords(t, "dead-letter"); n != 1 {
		t.Fatalf("%d dead letters, want only the listed Trigger's", n)
	}
}

// An EventPolicy the emulator cannot apply stops it: running without it
// would let in senders Knative refuses.
func TestAnEventPolicyTheEmulatorCannotApplyIsAnError(t *testing.T) {
	selector := `
---
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: {name: by-label, namespace: test}
spec:
  to: [{selector: {apiVersion: eventing.knative.dev/v1, kind: Broker, matchLabels: {app: x}}}]
  from: [{sub: system:serviceaccount:test:sender}]
`
	if _, err := ParseSpec([]byte(brokerYAML + selector)); err == nil || !strings.Contains(err.Error(), "selector") {
		t.Fatalf("a policy with a selector: %v, want an error naming the selector", err)
	}
}
