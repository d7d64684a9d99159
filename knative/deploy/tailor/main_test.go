package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

const release = `
apiVersion: v1
kind: ConfigMap
metadata: {name: config-kafka-broker-data-plane, namespace: knative-eventing}
data:
  config-kafka-broker-consumer.properties: |
    fetch.min.bytes=1
    auto.offset.reset=latest
    session.timeout.ms=10000
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-features, namespace: knative-eventing}
data:
  authentication-oidc: disabled
  transport-encryption: disabled
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: kafka-broker-dispatcher, namespace: knative-eventing}
spec:
  template:
    spec:
      containers:
        - name: d
          resources:
            requests: {cpu: 1000m, memory: 700Mi}
            limits: {cpu: 2000m}
        - name: e
          resources:
            requests: {cpu: "1"}
`

const settings = `
apiVersion: v1
kind: ConfigMap
metadata: {name: config-features, namespace: knative-eventing}
data:
  authentication-oidc: enabled
  default-authorization-mode: deny-all
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-kafka-broker-data-plane, namespace: knative-eventing}
data:
  config-kafka-broker-consumer.properties: |
    auto.offset.reset=earliest
`

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// objects decodes tailor's output for assertions.
func objects(t *testing.T, out []byte) map[string]map[string]any {
	t.Helper()
	objs := map[string]map[string]any{}
	dec := yamlv3.NewDecoder(bytes.NewReader(out))
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, out)
		}
		objs[o["metadata"].(map[string]any)["name"].(string)] = o
	}
}

func TestTailorSetsParleysSettingsAndScalesCPU(t *testing.T) {
	var out bytes.Buffer
	if err := run(write(t, "settings.yaml", settings), 25, []string{write(t, "release.yaml", release)}, &out); err != nil {
		t.Fatal(err)
	}
	objs := objects(t, out.Bytes())
	features := objs["config-features"]["data"].(map[string]any)
	if features["authentication-oidc"] != "enabled" || features["default-authorization-mode"] != "deny-all" || features["transport-encryption"] != "disabled" {
		t.Errorf("config-features: %v", features)
	}
	consumer := objs["config-kafka-broker-data-plane"]["data"].(map[string]any)["config-kafka-broker-consumer.properties"].(string)
	if consumer != "fetch.min.bytes=1\nauto.offset.reset=earliest\nsession.timeout.ms=10000\n" {
		t.Errorf("consumer properties: %q", consumer)
	}
	containers := objs["kafka-broker-dispatcher"]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	res := func(i int) map[string]any { return containers[i].(map[string]any)["resources"].(map[string]any) }
	if got := res(0)["requests"].(map[string]any)["cpu"]; got != "250m" {
		t.Errorf("cpu request 1000m at 25%%: got %v", got)
	}
	if got := res(1)["requests"].(map[string]any)["cpu"]; got != "250m" {
		t.Errorf("cpu request 1 at 25%%: got %v", got)
	}
	if got := res(0)["limits"].(map[string]any)["cpu"]; got != "2000m" {
		t.Errorf("cpu limit changed to %v", got)
	}
	if got := res(0)["requests"].(map[string]any)["memory"]; got != "700Mi" {
		t.Errorf("memory request changed to %v", got)
	}

	// Tailoring its own output changes nothing more than the scaling: the
	// settings are already there.
	var again bytes.Buffer
	if err := run(write(t, "settings.yaml", settings), 100, []string{write(t, "out.yaml", out.String())}, &again); err != nil {
		t.Fatal(err)
	}
	if again.String() != out.String() {
		t.Errorf("second pass changed the output:\n%s\nvs\n%s", out.String(), again.String())
	}
}

func TestTailorFailsWhenAReleaseLacksAConfiguredConfigMap(t *testing.T) {
	renamed := strings.Replace(release, "name: config-features", "name: config-feature-flags", 1)
	err := run(write(t, "settings.yaml", settings), 100, []string{write(t, "release.yaml", renamed)}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "knative-eventing/config-features is not in the release") {
		t.Fatalf("got %v", err)
	}
}
