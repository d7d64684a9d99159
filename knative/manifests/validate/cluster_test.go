package validate

import (
	"strings"
	"testing"
)

// TestKnativeConfigSaysWhatParleyNeeds reads the settings make deploy writes
// into Knative, the features with Eventing's own parser.
func TestKnativeConfigSaysWhatParleyNeeds(t *testing.T) {
	flags, err := eventingFeatures()
	if err != nil {
		t.Fatal(err)
	}
	if !flags.IsOIDCAuthentication() || !flags.IsAuthorizationDefaultModeDenyAll() {
		t.Errorf("Eventing features %v: want OIDC sender authentication and deny-all authorization", flags)
	}
	cms, err := KnativeConfig()
	if err != nil {
		t.Fatal(err)
	}
	consumer := cms["knative-eventing/config-kafka-broker-data-plane"].Data["config-kafka-broker-consumer.properties"]
	got := ""
	for _, line := range strings.Split(consumer, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "auto.offset.reset" {
			got = strings.TrimSpace(v)
		}
	}
	if got != "earliest" {
		t.Errorf("Trigger consumer groups start at %q, want earliest like the emulator's", got)
	}
	if !strings.HasPrefix(cms["knative-serving/config-network"].Data["ingress-class"], "kourier.") {
		t.Errorf("ingress class is not Kourier's")
	}
}
