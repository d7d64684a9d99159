package emulator

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/golang-jwt/jwt/v5"
	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// Knative Eventing's sender authentication and authorization, as the Kafka
// Broker's receiver applies them at its ingress and its KafkaSinks
// (eventing-kafka-broker data-plane AuthVerifierImpl and EventPolicy; the
// control plane resolves the policies, as knative.dev/eventing pkg/auth
// does): a request must carry an OIDC token whose audience is the
// resource's; it passes when some applying EventPolicy lists its subject
// and the event passes that policy's filters; when no EventPolicy applies,
// the default authorization mode decides.

// EventPolicySpec is an EventPolicy (eventing.knative.dev/v1alpha1).
type EventPolicySpec struct {
	Name, Namespace string
	// To names the resources it applies to, as "Kind/name"; empty: every
	// resource in its namespace.
	To []string
	// From are the subjects allowed: exact, or a prefix ending in "*".
	From []string
	// Filters must all pass (SubscriptionsAPI filters).
	Filters []Filter
}

// Filter is a SubscriptionsAPI filter; the emulator implements every
// dialect but CESQL.
type Filter struct {
	Exact, Prefix, Suffix map[string]string
	All, Any              []Filter
	Not                   *Filter
}

// Authorization modes of config-features' default-authorization-mode.
const (
	AuthorizationAllowSameNamespace = "allow-same-namespace" // Knative's default
	AuthorizationDenyAll            = "deny-all"
	AuthorizationAllowAll           = "allow-all"
)

const serviceAccountSubject = "system:serviceaccount:"

// ServiceAccountSubject is the OIDC subject of a Kubernetes service account.
func ServiceAccountSubject(namespace, name string) string {
	return serviceAccountSubject + namespace + ":" + name
}

// triggerSubject is the subject a Trigger sends its replies as: the service
// account Knative creates for it (pkg/auth GetOIDCServiceAccountNameForResource).
func triggerSubject(namespace, name string) (string, error) {
	sa := strings.ToLower(name + "-oidc-eventing.knative.dev-trigger")
	if len(sa) > 63 {
		// Knative shortens such names with a hash (kmeta.ChildName).
		return "", fmt.Errorf("trigger name %q is too long for the emulator's identities: keep it under %d characters", name, 63-len("-oidc-eventing.knative.dev-trigger"))
	}
	return ServiceAccountSubject(namespace, sa), nil
}

// brokerAudience is a Broker's OIDC audience (pkg/auth GetAudience).
func brokerAudience(namespace, name string) string {
	return strings.ToLower("eventing.knative.dev/Broker/" + namespace + "/" + name)
}

type eventPolicyYAML struct {
	Spec struct {
		To []struct {
			Ref *struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"ref"`
			Selector any `json:"selector"`
		} `json:"to"`
		From []struct {
			Ref *struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Name       string `json:"name"`
				Namespace  string `json:"namespace"`
			} `json:"ref"`
			Sub *string `json:"sub"`
		} `json:"from"`
		Filters []filterYAML `json:"filters"`
	} `json:"spec"`
}

type filterYAML struct {
	Exact  map[string]string `json:"exact"`
	Prefix map[string]string `json:"prefix"`
	Suffix map[string]string `json:"suffix"`
	All    []filterYAML      `json:"all"`
	Any    []filterYAML      `json:"any"`
	Not    *filterYAML       `json:"not"`
	CESQL  string            `json:"cesql"`
}

// parse checks a filter as Eventing's webhook does: one dialect per
// filter, one attribute per exact, prefix or suffix.
func (f filterYAML) parse() (Filter, error) {
	if f.CESQL != "" {
		return Filter{}, errors.New("CESQL filters are not implemented by the emulator")
	}
	dialects := 0
	for _, n := range []int{len(f.Exact), len(f.Prefix), len(f.Suffix), len(f.All), len(f.Any)} {
		if n > 0 {
			dialects++
		}
	}
	if f.Not != nil {
		dialects++
	}
	if dialects != 1 {
		return Filter{}, fmt.Errorf("a filter takes exactly one dialect, this one has %d", dialects)
	}
	for _, m := range []map[string]string{f.Exact, f.Prefix, f.Suffix} {
		if len(m) > 1 {
			return Filter{}, errors.New("exact, prefix and suffix take exactly one attribute each")
		}
	}
	out := Filter{Exact: f.Exact, Prefix: f.Prefix, Suffix: f.Suffix}
	for _, g := range f.All {
		p, err := g.parse()
		if err != nil {
			return out, err
		}
		out.All = append(out.All, p)
	}
	for _, g := range f.Any {
		p, err := g.parse()
		if err != nil {
			return out, err
		}
		out.Any = append(out.Any, p)
	}
	if f.Not != nil {
		p, err := f.Not.parse()
		if err != nil {
			return out, err
		}
		out.Not = &p
	}
	return out, nil
}

// addEventPolicy reads an EventPolicy, or says why the emulator cannot
// apply it as written.
func (s *Spec) addEventPolicy(o manifests.Object) error {
	var p eventPolicyYAML
	if err := yaml.Unmarshal(o.Raw, &p); err != nil {
		return err
	}
	ep := EventPolicySpec{Name: o.Name, Namespace: o.Namespace}
	for _, to := range p.Spec.To {
		if to.Ref == nil {
			return errors.New("spec.to selectors are not implemented by the emulator: use refs")
		}
		ep.To = append(ep.To, to.Ref.Kind+"/"+to.Ref.Name)
	}
	for _, from := range p.Spec.From {
		switch {
		case from.Sub != nil:
			ep.From = append(ep.From, *from.Sub)
		case from.Ref != nil && from.Ref.Kind == "Trigger":
			ns := from.Ref.Namespace
			if ns == "" {
				ns = o.Namespace
			}
			sub, err := triggerSubject(ns, from.Ref.Name)
			if err != nil {
				return err
			}
			ep.From = append(ep.From, sub)
		case from.Ref != nil:
			return fmt.Errorf("spec.from ref to a %s: the emulator resolves refs to Triggers only", from.Ref.Kind)
		}
	}
	for _, f := range p.Spec.Filters {
		pf, err := f.parse()
		if err != nil {
			return err
		}
		ep.Filters = append(ep.Filters, pf)
	}
	s.EventPolicies = append(s.EventPolicies, ep)
	return nil
}

// attribute reads a context attribute or extension as a string, as the
// SubscriptionsAPI filters do.
func attribute(e event.Event, name string) (string, bool) {
	switch name {
	case "specversion":
		return e.SpecVersion(), true
	case "id":
		return e.ID(), true
	case "type":
		return e.Type(), true
	case "source":
		return e.Source(), true
	case "subject":
		return e.Subject(), e.Subject() != ""
	case "datacontenttype":
		return e.DataContentType(), e.DataContentType() != ""
	case "dataschema":
		return e.DataSchema(), e.DataSchema() != ""
	case "time":
		if e.Time().IsZero() {
			return "", false
		}
		return e.Time().Format(time.RFC3339Nano), true
	}
	v, ok := e.Extensions()[name]
	if !ok {
		return "", false
	}
	return fmt.Sprint(v), true
}

// Pass reports whether e passes the filter. Within exact, prefix and suffix
// every attribute must match; an empty filter passes everything.
func (f Filter) Pass(e event.Event) bool {
	return f.pass(func(name string) (string, bool) { return attribute(e, name) })
}

// pass applies the filter to the attributes lookup finds, so a Trigger can
// filter a Kafka record by its headers before decoding it.
func (f Filter) pass(lookup func(name string) (string, bool)) bool {
	match := func(m map[string]string, ok func(v, want string) bool) bool {
		for name, want := range m {
			v, found := lookup(name)
			if !found || !ok(v, want) {
				return false
			}
		}
		return true
	}
	if !match(f.Exact, func(v, w string) bool { return v == w }) ||
		!match(f.Prefix, strings.HasPrefix) || !match(f.Suffix, strings.HasSuffix) {
		return false
	}
	for _, g := range f.All {
		if !g.pass(lookup) {
			return false
		}
	}
	if len(f.Any) > 0 {
		any := false
		for _, g := range f.Any {
			if g.pass(lookup) {
				any = true
				break
			}
		}
		if !any {
			return false
		}
	}
	return f.Not == nil || !f.Not.pass(lookup)
}

// subjectMatches is EventPolicy's sub matching: equal, or a "*" suffix glob.
func subjectMatches(pattern, sub string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(sub, prefix)
	}
	return pattern == sub
}

// Authorizer decides who may send what to one resource.
type Authorizer struct {
	Namespace string
	Policies  []EventPolicySpec // those that apply to the resource
	Default   string            // the default authorization mode
}

// NewAuthorizer collects the policies applying to kind/name in namespace.
func NewAuthorizer(policies []EventPolicySpec, namespace, kind, name, defaultMode string) Authorizer {
	a := Authorizer{Namespace: namespace, Default: defaultMode}
	for _, p := range policies {
		if p.Namespace != namespace {
			continue
		}
		applies := len(p.To) == 0
		for _, to := range p.To {
			applies = applies || strings.EqualFold(to, kind+"/"+name)
		}
		if applies {
			a.Policies = append(a.Policies, p)
		}
	}
	return a
}

// errForbidden marks an authenticated sender the policies do not allow.
var errForbidden = errors.New("forbidden")

// Allow reports whether subject may send e: some applying policy lists the
// subject and e passes all of its filters. With no applying policy, the
// default mode decides.
func (a Authorizer) Allow(subject string, e event.Event) error {
	if len(a.Policies) == 0 {
		switch a.Default {
		case AuthorizationAllowAll:
			return nil
		case AuthorizationDenyAll:
			return fmt.Errorf("%w: no EventPolicy applies and the default mode is %s", errForbidden, a.Default)
		}
		if strings.HasPrefix(subject, serviceAccountSubject+a.Namespace+":") {
			return nil
		}
		return fmt.Errorf("%w: no EventPolicy applies and %q is not in namespace %s", errForbidden, subject, a.Namespace)
	}
	listed := false
	for _, p := range a.Policies {
		if !slices.ContainsFunc(p.From, func(from string) bool { return subjectMatches(from, subject) }) {
			continue
		}
		listed = true
		if !slices.ContainsFunc(p.Filters, func(f Filter) bool { return !f.Pass(e) }) {
			return nil
		}
	}
	if listed {
		return fmt.Errorf("%w: no EventPolicy lets %q send %s from %s", errForbidden, subject, e.Type(), e.Source())
	}
	return fmt.Errorf("%w: no EventPolicy lists %q", errForbidden, subject)
}

// issuer mints and verifies the emulator's OIDC tokens: the service
// account tokens a kubelet would project into a pod.
type issuer struct {
	key ed25519.PrivateKey
}

const issuerName = "https://kubernetes.default.svc.emulator"

func newIssuer() (*issuer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &issuer{key: key}, nil
}

// Mint returns a token for subject with audience, valid for ttl.
func (i *issuer) Mint(subject, audience string, ttl time.Duration) (string, error) {
	now := time.Now()
	id := make([]byte, 16)
	rand.Read(id)
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.RegisteredClaims{
		ID: hex.EncodeToString(id), Issuer: issuerName, Subject: subject, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}).SignedString(i.key)
}

// Verify checks a token's signature, time and audience and returns its subject.
func (i *issuer) Verify(token, audience string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return i.key.Public(), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(issuerName),
		jwt.WithAudience(audience), jwt.WithExpirationRequired())
	if err != nil {
		return "", err
	}
	return claims.Subject, nil
}
