package emulator

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// The emulator reads only the fields it acts on, leniently: strict checking
// is the validator's job (knative/manifests/validate), and a field the
// emulator ignores must not stop a local run.

// ServiceSpec is a Knative Service as the emulator runs it.
type ServiceSpec struct {
	Name, Namespace string
	Image           string
	Env             []EnvVar
	MinScale        int
	ReadinessPath   string
	// Timeout bounds one proxied request (spec.template.spec.timeoutSeconds).
	Timeout time.Duration
	// ResponseStartTimeout and IdleTimeout are the revision's
	// responseStartTimeoutSeconds and idleTimeoutSeconds (0: none), which
	// queue-proxy enforces.
	ResponseStartTimeout, IdleTimeout time.Duration
	// ContainerConcurrency is queue-proxy's hard limit on concurrent requests (0: none).
	ContainerConcurrency int
	// Port is the user container's port (containerPort, default 8080); H2C
	// is set when that port is named h2c, which moves queue-proxy to 8013.
	Port int
	H2C  bool
}

// EnvVar is a container env entry. FromRef marks a valueFrom reference
// (Secret or ConfigMap) whose value must come from the emulator's config.
type EnvVar struct {
	Name, Value string
	FromRef     bool
}

// Destination is a Knative duck Destination: a reference or a URI.
type Destination struct {
	APIVersion, Kind, Name, Namespace string
	URI                               string
}

func (d Destination) String() string {
	if d.URI != "" {
		return d.URI
	}
	return fmt.Sprintf("%s %s/%s", d.Kind, d.Namespace, d.Name)
}

// DeliverySpec is a Trigger's or Broker's delivery: retries, backoff, dead letter.
type DeliverySpec struct {
	Retry         int
	BackoffPolicy string // "exponential" (default) or "linear"
	BackoffDelay  time.Duration
	Timeout       time.Duration
	DeadLetter    *Destination
}

// TriggerSpec is a Trigger.
type TriggerSpec struct {
	Name, Namespace, Broker string
	// Filter is spec.filter's attributes, exact matches; Knative ignores
	// it when spec.filters (the SubscriptionsAPI filters, all of which
	// must pass) is set, and so does the emulator.
	Filter     map[string]string
	Filters    []Filter
	Subscriber Destination
	Delivery   DeliverySpec
	Ordered    bool
}

// BrokerSpec is a Kafka-class Broker.
type BrokerSpec struct {
	Name, Namespace, Topic string
	Delivery               DeliverySpec
}

// SinkSpec is a KafkaSink.
type SinkSpec struct {
	Name, Namespace, Topic string
}

// Spec is everything the emulator found in a rendered stream.
type Spec struct {
	Services []ServiceSpec
	Brokers  []BrokerSpec
	Triggers []TriggerSpec
	Sinks    []SinkSpec
	// EventPolicies restrict who may send to a Broker (see eventpolicy.go).
	EventPolicies []EventPolicySpec
	// Tokens are the service account tokens each Service (by
	// namespace/name) has projected into its container.
	Tokens map[string][]ProjectedToken
	// Skipped lists objects that could not be used, with the reason; the
	// emulator logs them and serves the rest.
	Skipped []error
}

const (
	annotationMinScale  = "autoscaling.knative.dev/min-scale"
	annotationClass     = "eventing.knative.dev/broker.class"
	annotationTopic     = "kafka.eventing.knative.dev/external.topic"
	annotationDelivery  = "kafka.eventing.knative.dev/delivery.order"
	defaultDeliveryWait = 30 * time.Second
)

type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Annotations map[string]string `json:"annotations"`
}

type destinationYAML struct {
	Ref *struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
	} `json:"ref"`
	URI string `json:"uri"`
}

type deliveryYAML struct {
	Retry          *int             `json:"retry"`
	BackoffPolicy  string           `json:"backoffPolicy"`
	BackoffDelay   string           `json:"backoffDelay"`
	Timeout        string           `json:"timeout"`
	DeadLetterSink *destinationYAML `json:"deadLetterSink"`
}

// ParseSpec reads a rendered manifest stream.
func ParseSpec(stream []byte) (Spec, error) {
	objs, err := manifests.Split(stream)
	if err != nil {
		return Spec{}, err
	}
	var s Spec
	for _, o := range objs {
		var err error
		switch o.APIVersion + "/" + o.Kind {
		case "serving.knative.dev/v1/Service":
			err = s.addService(o)
			if err == nil {
				err = s.addTokens(o)
			}
		case "eventing.knative.dev/v1/Broker":
			err = s.addBroker(o)
		case "eventing.knative.dev/v1/Trigger":
			err = s.addTrigger(o)
		case "eventing.knative.dev/v1alpha1/KafkaSink":
			err = s.addSink(o)
		case "eventing.knative.dev/v1alpha1/EventPolicy":
			// Fatal, not skipped: without a policy it cannot apply, the
			// emulator would let in senders Knative refuses.
			if err := s.addEventPolicy(o); err != nil {
				return Spec{}, fmt.Errorf("%s: %w", o, err)
			}
		}
		if err != nil {
			s.Skipped = append(s.Skipped, fmt.Errorf("%s: %w", o, err))
		}
	}
	// Triggers without delivery inherit their Broker's, as in Knative.
	for i := range s.Triggers {
		t := &s.Triggers[i]
		if t.Delivery.isZero() {
			for _, b := range s.Brokers {
				if b.Name == t.Broker && b.Namespace == t.Namespace {
					t.Delivery = b.Delivery
				}
			}
		}
		if t.Delivery.Timeout == 0 {
			t.Delivery.Timeout = defaultDeliveryWait
		}
	}
	return s, nil
}

func (s *Spec) addService(o manifests.Object) error {
	var ks struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Template struct {
				Metadata objectMeta `json:"metadata"`
				Spec     struct {
					TimeoutSeconds              *int `json:"timeoutSeconds"`
					ResponseStartTimeoutSeconds *int `json:"responseStartTimeoutSeconds"`
					IdleTimeoutSeconds          *int `json:"idleTimeoutSeconds"`
					ContainerConcurrency        *int `json:"containerConcurrency"`
					Containers                  []struct {
						Image string `json:"image"`
						Ports []struct {
							Name          string `json:"name"`
							ContainerPort int    `json:"containerPort"`
						} `json:"ports"`
						Env []struct {
							Name      string          `json:"name"`
							Value     string          `json:"value"`
							ValueFrom *map[string]any `json:"valueFrom"`
						} `json:"env"`
						ReadinessProbe *struct {
							HTTPGet *struct {
								Path string `json:"path"`
							} `json:"httpGet"`
						} `json:"readinessProbe"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.Raw, &ks); err != nil {
		return err
	}
	tmpl := ks.Spec.Template
	if len(tmpl.Spec.Containers) != 1 {
		return fmt.Errorf("want exactly one container, got %d", len(tmpl.Spec.Containers))
	}
	c := tmpl.Spec.Containers[0]
	if c.Image == "" {
		return fmt.Errorf("container has no image")
	}
	// Knative's defaults (config-defaults): 300 s for both timeouts, port 8080.
	svc := ServiceSpec{Name: o.Name, Namespace: o.Namespace, Image: c.Image, Timeout: 300 * time.Second,
		ResponseStartTimeout: 300 * time.Second, Port: 8080}
	if v := tmpl.Metadata.Annotations[annotationMinScale]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("annotation %s=%q is not a non-negative integer", annotationMinScale, v)
		}
		svc.MinScale = n
	}
	if t := tmpl.Spec.TimeoutSeconds; t != nil && *t > 0 {
		svc.Timeout = time.Duration(*t) * time.Second
	}
	if t := tmpl.Spec.ResponseStartTimeoutSeconds; t != nil && *t > 0 {
		svc.ResponseStartTimeout = time.Duration(*t) * time.Second
	}
	if t := tmpl.Spec.IdleTimeoutSeconds; t != nil && *t > 0 {
		svc.IdleTimeout = time.Duration(*t) * time.Second
	}
	if cc := tmpl.Spec.ContainerConcurrency; cc != nil {
		if *cc < 0 {
			return fmt.Errorf("containerConcurrency %d is negative", *cc)
		}
		svc.ContainerConcurrency = *cc
	}
	if len(c.Ports) > 0 {
		if p := c.Ports[0].ContainerPort; p > 0 {
			svc.Port = p
		}
		svc.H2C = c.Ports[0].Name == "h2c"
	}
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
		svc.ReadinessPath = p.HTTPGet.Path
		if svc.ReadinessPath == "" {
			svc.ReadinessPath = "/"
		}
	}
	for _, e := range c.Env {
		svc.Env = append(svc.Env, EnvVar{Name: e.Name, Value: e.Value, FromRef: e.ValueFrom != nil})
	}
	s.Services = append(s.Services, svc)
	return nil
}

func (s *Spec) addBroker(o manifests.Object) error {
	var b struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Delivery *deliveryYAML `json:"delivery"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.Raw, &b); err != nil {
		return err
	}
	if class := b.Metadata.Annotations[annotationClass]; class != "Kafka" {
		return fmt.Errorf("broker class %q: the emulator implements the Kafka class only", class)
	}
	topic := b.Metadata.Annotations[annotationTopic]
	if topic == "" {
		return fmt.Errorf("annotation %s is required: the emulator uses externally managed topics only", annotationTopic)
	}
	d, err := parseDelivery(b.Spec.Delivery, o.Namespace)
	if err != nil {
		return err
	}
	s.Brokers = append(s.Brokers, BrokerSpec{Name: o.Name, Namespace: o.Namespace, Topic: topic, Delivery: d})
	return nil
}

func (s *Spec) addTrigger(o manifests.Object) error {
	var t struct {
		Metadata objectMeta `json:"metadata"`
		Spec     struct {
			Broker string `json:"broker"`
			Filter *struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"filter"`
			Filters    []filterYAML    `json:"filters"`
			Subscriber destinationYAML `json:"subscriber"`
			Delivery   *deliveryYAML   `json:"delivery"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.Raw, &t); err != nil {
		return err
	}
	if t.Spec.Broker == "" {
		return fmt.Errorf("spec.broker is empty")
	}
	sub, err := parseDestination(&t.Spec.Subscriber, o.Namespace)
	if err != nil {
		return fmt.Errorf("spec.subscriber: %w", err)
	}
	d, err := parseDelivery(t.Spec.Delivery, o.Namespace)
	if err != nil {
		return err
	}
	ts := TriggerSpec{Name: o.Name, Namespace: o.Namespace, Broker: t.Spec.Broker, Subscriber: sub, Delivery: d,
		Filter: map[string]string{}}
	if t.Spec.Filter != nil {
		for k, v := range t.Spec.Filter.Attributes {
			// An empty value matches anything, as in Knative's attribute filter.
			if v != "" {
				ts.Filter[k] = v
			}
		}
	}
	for i, f := range t.Spec.Filters {
		pf, err := f.parse()
		if err != nil {
			return fmt.Errorf("spec.filters[%d]: %w", i, err)
		}
		ts.Filters = append(ts.Filters, pf)
	}
	switch order := t.Metadata.Annotations[annotationDelivery]; order {
	case "", "unordered":
	case "ordered":
		ts.Ordered = true
	default:
		return fmt.Errorf("annotation %s=%q: want ordered or unordered", annotationDelivery, order)
	}
	s.Triggers = append(s.Triggers, ts)
	return nil
}

// Passes reports whether an event whose attributes lookup finds passes the
// Trigger: every one of spec.filters when there are any (Knative's Kafka
// Broker then ignores spec.filter), else every attribute of spec.filter.
func (t TriggerSpec) Passes(lookup func(name string) (string, bool)) bool {
	if len(t.Filters) > 0 {
		for _, f := range t.Filters {
			if !f.pass(lookup) {
				return false
			}
		}
		return true
	}
	for attr, want := range t.Filter {
		if got, ok := lookup(attr); !ok || got != want {
			return false
		}
	}
	return true
}

func (s *Spec) addSink(o manifests.Object) error {
	var k struct {
		Spec struct {
			Topic string `json:"topic"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.Raw, &k); err != nil {
		return err
	}
	if k.Spec.Topic == "" {
		return fmt.Errorf("spec.topic is empty")
	}
	s.Sinks = append(s.Sinks, SinkSpec{Name: o.Name, Namespace: o.Namespace, Topic: k.Spec.Topic})
	return nil
}

func parseDestination(d *destinationYAML, ns string) (Destination, error) {
	switch {
	case d == nil || (d.Ref == nil && d.URI == ""):
		return Destination{}, fmt.Errorf("neither ref nor uri is set")
	case d.Ref != nil:
		out := Destination{APIVersion: d.Ref.APIVersion, Kind: d.Ref.Kind, Name: d.Ref.Name, Namespace: d.Ref.Namespace}
		if out.Namespace == "" {
			out.Namespace = ns
		}
		if out.Kind == "" || out.Name == "" {
			return Destination{}, fmt.Errorf("ref needs kind and name")
		}
		return out, nil
	default:
		return Destination{URI: d.URI}, nil
	}
}

func parseDelivery(d *deliveryYAML, ns string) (DeliverySpec, error) {
	var out DeliverySpec
	if d == nil {
		return out, nil
	}
	if d.Retry != nil {
		if *d.Retry < 0 {
			return out, fmt.Errorf("delivery.retry must not be negative")
		}
		out.Retry = *d.Retry
	}
	switch d.BackoffPolicy {
	case "", "exponential", "linear":
		out.BackoffPolicy = d.BackoffPolicy
	default:
		return out, fmt.Errorf("delivery.backoffPolicy %q: want exponential or linear", d.BackoffPolicy)
	}
	var err error
	if d.BackoffDelay != "" {
		if out.BackoffDelay, err = ParseISODuration(d.BackoffDelay); err != nil {
			return out, fmt.Errorf("delivery.backoffDelay: %w", err)
		}
	}
	if d.Timeout != "" {
		if out.Timeout, err = ParseISODuration(d.Timeout); err != nil {
			return out, fmt.Errorf("delivery.timeout: %w", err)
		}
	}
	if d.DeadLetterSink != nil {
		dls, err := parseDestination(d.DeadLetterSink, ns)
		if err != nil {
			return out, fmt.Errorf("delivery.deadLetterSink: %w", err)
		}
		out.DeadLetter = &dls
	}
	return out, nil
}

func (d DeliverySpec) isZero() bool {
	return d.Retry == 0 && d.BackoffPolicy == "" && d.BackoffDelay == 0 && d.Timeout == 0 && d.DeadLetter == nil
}

// backoff is the wait before retry number n (1-based), as Knative computes it.
func (d DeliverySpec) backoff(n int) time.Duration {
	if d.BackoffDelay == 0 {
		return 0
	}
	if d.BackoffPolicy == "linear" {
		return d.BackoffDelay * time.Duration(n)
	}
	if n > 20 {
		n = 20
	}
	return d.BackoffDelay * time.Duration(1<<n)
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseISODuration parses the ISO-8601 durations Knative uses (PT0.2S, PT1M, P1DT2H).
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration such as PT0.5S", s)
	}
	var d time.Duration
	units := []time.Duration{24 * time.Hour, time.Hour, time.Minute}
	for i, u := range units {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * u
		}
	}
	if m[4] != "" {
		f, _ := strconv.ParseFloat(m[4], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}
