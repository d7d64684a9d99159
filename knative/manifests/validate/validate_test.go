package validate

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

func TestBaseIsValid(t *testing.T) {
	objs := renderBase(t)
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.Kind]++
		if err := Object(context.Background(), o); err != nil {
			t.Errorf("valid manifest rejected: %v", err)
		}
	}
	// Guard against a render that silently drops resources.
	want := map[string]int{"Service": 7, "Broker": 1, "Trigger": 7, "KafkaSink": 1, "Namespace": 1, "ConfigMap": 2,
		"EventPolicy": 5, "ServiceAccount": 7}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("rendered %d %s objects, want %d", counts[kind], kind, n)
		}
	}
}

const validService = `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: fn, namespace: parley}
spec:
  template:
    spec:
      containers:
        - image: ko://example.com/fn
          ports: [{name: h2c, containerPort: 8080}]
`

// validServiceWithEnv is validService with a container env list to add to.
const validServiceWithEnv = validService + `          env:
            - {name: REDIS_ADDR, value: "redis.parley.svc:9090"}
`

const validEventPolicy = `
apiVersion: eventing.knative.dev/v1alpha1
kind: EventPolicy
metadata: {name: p, namespace: parley}
spec:
  to: [{ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}]
  from: [{sub: "system:serviceaccount:parley:auth"}]
`

const validNetworkPolicy = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np, namespace: parley}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: redis}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: parley}}}]
      ports: [{protocol: TCP, port: 6379}]
`

const validTrigger = `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: parley}
spec:
  broker: default
  filter: {attributes: {type: parley.message.sent}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: fn}}
`

const validDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: parley}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.29
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {}}]
`

const validKafka = `
apiVersion: kafka.strimzi.io/v1beta2
kind: Kafka
metadata:
  name: parley
  namespace: kafka
spec:
  kafka:
    version: 4.1.0
    listeners: [{name: scram, port: 9092, type: internal, tls: false, authentication: {type: scram-sha-512}}]
    authorization: {type: simple}
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaNodePool
metadata: {name: pool, namespace: kafka, labels: {strimzi.io/cluster: parley}}
spec:
  replicas: 1
  roles: [controller, broker]
  storage: {type: ephemeral}
`

const validUser = `
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaUser
metadata: {name: u, namespace: kafka, labels: {strimzi.io/cluster: parley}}
spec:
  authentication: {type: scram-sha-512}
  authorization:
    type: simple
    acls:
      - resource: {type: topic, name: t, patternType: literal}
        operations: [Write, Describe]
      - resource: {type: group, name: knative-trigger-, patternType: prefix}
        operations: [Read]
`

const validTopic = `
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: {name: t, namespace: kafka, labels: {strimzi.io/cluster: parley}}
spec: {partitions: 3, replicas: 1}
`

const validJob = `
apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: parley}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`

func TestBrokenManifestsAreRejected(t *testing.T) {
	cases := map[string]struct {
		doc     string
		wantErr string
	}{
		"trigger without subscriber": {
			doc: `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t, namespace: parley}
spec:
  broker: default
`, wantErr: "subscriber"},
		"job that restarts its pods forever": {
			doc:     strings.Replace(validJob, "restartPolicy: Never", "restartPolicy: Always", 1),
			wantErr: "restartPolicy"},
		"job without image": {
			doc:     strings.Replace(validJob, ", image: busybox", "", 1),
			wantErr: "image"},
		"trigger without broker": {
			doc:     strings.Replace(validTrigger, "broker: default", "", 1),
			wantErr: "broker"},
		"service with two ports": {
			doc:     strings.Replace(validService, "ports: [{name: h2c, containerPort: 8080}]", "ports: [{name: h2c, containerPort: 8080}, {name: http1, containerPort: 9090}]", 1),
			wantErr: "ports"},
		"service without image": {
			doc:     strings.Replace(validService, "- image: ko://example.com/fn", "- name: fn", 1),
			wantErr: "image"},
		"unknown field": {
			doc:     strings.Replace(validService, "spec:\n  template:", "spec:\n  replicas: 3\n  template:", 1),
			wantErr: "unknown field"},
		"bad backoff delay": {
			doc:     validTrigger + "  delivery: {retry: 3, backoffDelay: soon}\n",
			wantErr: "backoffDelay"},
		"kafka broker with secret config": {
			doc: `
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: parley
  annotations: {eventing.knative.dev/broker.class: Kafka}
spec:
  config: {apiVersion: v1, kind: Secret, name: x, namespace: parley}
`, wantErr: "ConfigMap"},
		"metrics server on queue-proxy's autoscaler metrics port": {
			doc:     validServiceWithEnv + `            - {name: METRICS_ADDR, value: ":9090"}` + "\n",
			wantErr: `env METRICS_ADDR=":9090" listens on port 9090, which Knative reserves for queue-proxy`},
		"profiling port on loopback": {
			doc:     validServiceWithEnv + `            - {name: DEBUG_ADDR, value: "127.0.0.1:8008"}` + "\n",
			wantErr: "port 8008, which Knative reserves"},
		"second server on the serving port": {
			doc:     validServiceWithEnv + `            - {name: METRICS_ADDR, value: "0.0.0.0:8080"}` + "\n",
			wantErr: "port 8080, already taken by the serving port"},
		"listen address from a secret": {
			doc:     validServiceWithEnv + `            - {name: ADMIN_PORT, valueFrom: {secretKeyRef: {name: s, key: k}}}` + "\n",
			wantErr: "set it as a literal value"},
		"listen address that is no port": {
			doc:     validServiceWithEnv + `            - {name: METRICS_ADDR, value: ":metrics"}` + "\n",
			wantErr: `port "metrics" is not a number`},
		"event policy with neither ref nor sub": {
			doc:     strings.Replace(validEventPolicy, `from: [{sub: "system:serviceaccount:parley:auth"}]`, "from: [{}]", 1),
			wantErr: "expected exactly one, got neither"},
		"network policy with a bad CIDR": {
			doc:     validNetworkPolicy + "    - from: [{ipBlock: {cidr: 10.0.0.0/33}}]\n",
			wantErr: "ipBlock.cidr"},
		"network policy with a misspelt field": {
			doc:     strings.Replace(validNetworkPolicy, "policyTypes:", "policyType:", 1),
			wantErr: "unknown field"},
		"unsupported kind": {
			doc: `
apiVersion: batch/v1
kind: CronJob
metadata: {name: d, namespace: parley}
`, wantErr: "no validator"},
		"deployment whose selector misses its pods": {
			doc:     strings.Replace(validDeployment, "labels: {app: web}", "labels: {app: api}", 1),
			wantErr: "does not match"},
		"deployment mounting an undeclared volume": {
			doc:     strings.Replace(validDeployment, "volumes: [{name: tmp, emptyDir: {}}]", "volumes: []", 1),
			wantErr: "undeclared volume"},
		"deployment with a misspelt field": {
			doc:     strings.Replace(validDeployment, "replicas: 1", "replica: 1", 1),
			wantErr: "unknown field"},
		"service without selector": {
			doc: `
apiVersion: v1
kind: Service
metadata: {name: s, namespace: parley}
spec: {ports: [{port: 80}]}
`, wantErr: "selector"},
		"binding without subjects": {
			doc: `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
`, wantErr: "subjects"},
		"topic of an undefined cluster": {
			doc:     validKafka + "---\n" + strings.Replace(validTopic, "strimzi.io/cluster: parley", "strimzi.io/cluster: other", 1),
			wantErr: `cluster "other" is not defined`},
		"topic with more replicas than brokers": {
			doc:     validKafka + "---\n" + strings.Replace(validTopic, "replicas: 1", "replicas: 3", 1),
			wantErr: "3 replicas on a cluster of 1 brokers"},
		"kafka with an annotation Strimzi 0.48 ignores": {
			doc:     strings.Replace(validKafka, "namespace: kafka\nspec:", "namespace: kafka\n  annotations: {strimzi.io/kraft: enabled}\nspec:", 1),
			wantErr: "Strimzi 0.48 ignores it"},
		"user with an ACL on an undefined topic": {
			doc:     validKafka + "---\n" + validTopic + "---\n" + strings.Replace(validUser, "name: t,", "name: parley-event,", 1),
			wantErr: `ACL on topic "parley-event", which no KafkaTopic defines`},
		"user with an unknown ACL operation": {
			doc:     validKafka + "---\n" + validTopic + "---\n" + strings.Replace(validUser, "[Read]", "[Consume]", 1),
			wantErr: `unknown operation "Consume"`},
		"kafka with an unknown field": {
			doc:     strings.Replace(validKafka, "version: 4.1.0", "version: 4.1.0\n    zookeeper: {}", 1),
			wantErr: "unknown field"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := Stream(context.Background(), []byte(tc.doc))
			if err == nil {
				t.Fatal("broken manifest accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
	// The unbroken documents the cases start from must pass, or the cases prove nothing.
	for _, doc := range []string{validService, validServiceWithEnv, validTrigger, validDeployment, validKafka + "---\n" + validTopic + "---\n" + validUser,
		validEventPolicy, validNetworkPolicy} {
		if err := Stream(context.Background(), []byte(doc)); err != nil {
			t.Errorf("valid document rejected: %v", err)
		}
	}
}

func TestMalformedYAMLIsAnError(t *testing.T) {
	if err := Stream(context.Background(), []byte("kind: [unclosed")); err == nil {
		t.Fatal("malformed YAML accepted")
	}
	if err := Stream(context.Background(), []byte("apiVersion: v1\nkind: ConfigMap\n")); err == nil {
		t.Fatal("document without metadata.name accepted")
	}
}

// TestServicesRunWithLeastPrivilege holds every shipped container to the
// restricted Pod Security profile and to explicit resource bounds, so a new
// service cannot land running as root or able to starve its node.
func TestServicesRunWithLeastPrivilege(t *testing.T) {
	objs := renderBase(t)
	checked := 0
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		var svc servingv1.Service
		if err := yaml.Unmarshal(o.Raw, &svc); err != nil {
			t.Fatal(err)
		}
		for _, c := range svc.Spec.Template.Spec.Containers {
			checked++
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s: no securityContext", o)
				continue
			case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
				t.Errorf("%s: may run as root", o)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s: root filesystem is writable", o)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s: privilege escalation allowed", o)
			case sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
				t.Errorf("%s: capabilities not dropped", o)
			case sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault":
				t.Errorf("%s: no RuntimeDefault seccomp profile", o)
			}
			for _, r := range []string{"cpu", "memory"} {
				if _, ok := c.Resources.Requests[corev1.ResourceName(r)]; !ok {
					t.Errorf("%s: no %s request", o, r)
				}
				if _, ok := c.Resources.Limits[corev1.ResourceName(r)]; !ok {
					t.Errorf("%s: no %s limit", o, r)
				}
			}
		}
	}
	if checked != 7 {
		t.Fatalf("checked %d containers, want 7", checked)
	}
}

// renderBase renders knative/base into its objects.
func renderBase(t *testing.T) []manifests.Object {
	t.Helper()
	stream, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Split(stream)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
