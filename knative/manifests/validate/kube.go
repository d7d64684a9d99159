package validate

import (
	"errors"
	"fmt"
	"net"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Kubernetes' own validation lives in k8s.io/kubernetes, which is not meant
// to be imported. Core kinds are therefore decoded strictly into their API
// types (unknown fields and wrong types are errors) and checked for the
// mistakes the API server or the kubelet would reject or trip over:
// selectors that miss their template, containers without images, mounts of
// undeclared volumes, references to missing keys.
var kubeKinds = map[string]func(raw []byte) error{
	"v1/Namespace":      strict[corev1.Namespace](nil),
	"v1/ConfigMap":      strict[corev1.ConfigMap](nil),
	"v1/ServiceAccount": strict[corev1.ServiceAccount](nil),
	"v1/Service":        strict(checkService),
	"apps/v1/Deployment": strict(func(d *appsv1.Deployment) error {
		return checkWorkload(d.Spec.Selector, d.Spec.Template, nil)
	}),
	"apps/v1/StatefulSet": strict(func(s *appsv1.StatefulSet) error {
		var errs []error
		if s.Spec.ServiceName == "" {
			errs = append(errs, errors.New("spec.serviceName is required"))
		}
		claims := map[string]bool{}
		for _, c := range s.Spec.VolumeClaimTemplates {
			claims[c.Name] = true
			if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				errs = append(errs, fmt.Errorf("volumeClaimTemplate %q requests no storage", c.Name))
			}
		}
		return errors.Join(append(errs, checkWorkload(s.Spec.Selector, s.Spec.Template, claims))...)
	}),
	// A Job's selector is generated; its pods must not restart in place
	// forever (the API accepts only OnFailure and Never).
	"batch/v1/Job": strict(func(j *batchv1.Job) error {
		if p := j.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyOnFailure && p != corev1.RestartPolicyNever {
			return fmt.Errorf("spec.template.spec.restartPolicy %q: a Job's pods need OnFailure or Never", p)
		}
		return checkPod(j.Spec.Template.Spec, nil)
	}),
	"networking.k8s.io/v1/NetworkPolicy": strict(checkNetworkPolicy),
	"rbac.authorization.k8s.io/v1/ClusterRole": strict(func(r *rbacv1.ClusterRole) error {
		if len(r.Rules) == 0 {
			return errors.New("rules: a role without rules grants nothing")
		}
		for i, rule := range r.Rules {
			if len(rule.Verbs) == 0 || len(rule.Resources) == 0 {
				return fmt.Errorf("rules[%d]: verbs and resources are required", i)
			}
		}
		return nil
	}),
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": strict(func(b *rbacv1.ClusterRoleBinding) error {
		if b.RoleRef.Kind == "" || b.RoleRef.Name == "" || b.RoleRef.APIGroup != rbacv1.GroupName {
			return errors.New("roleRef: apiGroup rbac.authorization.k8s.io, kind and name are required")
		}
		if len(b.Subjects) == 0 {
			return errors.New("subjects: a binding without subjects binds nobody")
		}
		return nil
	}),
}

// strict decodes raw into a T without tolerating unknown fields, then runs check.
func strict[T any](check func(*T) error) func(raw []byte) error {
	return func(raw []byte) error {
		var v T
		if err := yaml.UnmarshalStrict(raw, &v); err != nil {
			return err
		}
		if check == nil {
			return nil
		}
		return check(&v)
	}
}

func checkService(s *corev1.Service) error {
	var errs []error
	if len(s.Spec.Selector) == 0 {
		errs = append(errs, errors.New("spec.selector: a Service without a selector routes nowhere"))
	}
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, errors.New("spec.ports is required"))
	}
	for i, p := range s.Spec.Ports {
		if p.Port < 1 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("spec.ports[%d].port %d out of range", i, p.Port))
		}
		if len(s.Spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, fmt.Errorf("spec.ports[%d]: ports of a multi-port Service need names", i))
		}
	}
	return errors.Join(errs...)
}

// checkWorkload checks a pod template against its controller's selector.
// claims are the volume names a StatefulSet's claim templates provide.
func checkWorkload(sel *metav1.LabelSelector, tpl corev1.PodTemplateSpec, claims map[string]bool) error {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return errors.New("spec.selector is required")
	}
	var errs []error
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		errs = append(errs, fmt.Errorf("spec.selector: %w", err))
	} else if !selector.Matches(labels.Set(tpl.Labels)) {
		errs = append(errs, fmt.Errorf("spec.selector %s does not match the template's labels %v", selector, tpl.Labels))
	}
	return errors.Join(append(errs, checkPod(tpl.Spec, claims))...)
}

// checkPod checks a pod's containers and the volumes they mount; claims are
// the volume names a StatefulSet's claim templates provide.
func checkPod(pod corev1.PodSpec, claims map[string]bool) error {
	var errs []error
	volumes := map[string]bool{}
	for name := range claims {
		volumes[name] = true
	}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
	}
	if len(pod.Containers) == 0 {
		errs = append(errs, errors.New("spec.template: no containers"))
	}
	for _, c := range pod.Containers {
		if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("container name %q: %v", c.Name, msgs))
		}
		if c.Image == "" {
			errs = append(errs, fmt.Errorf("container %q: image is required", c.Name))
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, fmt.Errorf("container %q mounts undeclared volume %q", c.Name, m.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// checkNetworkPolicy checks what the API server would reject in a
// NetworkPolicy: bad selectors, CIDRs, protocols and port ranges.
func checkNetworkPolicy(p *networkingv1.NetworkPolicy) error {
	var errs []error
	selector := func(path string, sel *metav1.LabelSelector) {
		if sel == nil {
			return
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	peers := func(path string, ps []networkingv1.NetworkPolicyPeer) {
		for i, peer := range ps {
			at := fmt.Sprintf("%s[%d]", path, i)
			selector(at+".podSelector", peer.PodSelector)
			selector(at+".namespaceSelector", peer.NamespaceSelector)
			if peer.IPBlock != nil {
				if peer.PodSelector != nil || peer.NamespaceSelector != nil {
					errs = append(errs, fmt.Errorf("%s: ipBlock excludes podSelector and namespaceSelector", at))
				}
				if _, _, err := net.ParseCIDR(peer.IPBlock.CIDR); err != nil {
					errs = append(errs, fmt.Errorf("%s.ipBlock.cidr: %w", at, err))
				}
			} else if peer.PodSelector == nil && peer.NamespaceSelector == nil {
				errs = append(errs, fmt.Errorf("%s: a peer needs a podSelector, namespaceSelector or ipBlock", at))
			}
		}
	}
	ports := func(path string, ps []networkingv1.NetworkPolicyPort) {
		for i, port := range ps {
			at := fmt.Sprintf("%s[%d]", path, i)
			if port.Protocol != nil && *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP {
				errs = append(errs, fmt.Errorf("%s.protocol %q: want TCP, UDP or SCTP", at, *port.Protocol))
			}
			if port.Port == nil {
				continue
			}
			if n := port.Port.IntValue(); port.Port.StrVal == "" && (n < 1 || n > 65535) {
				errs = append(errs, fmt.Errorf("%s.port %d out of range", at, n))
			}
			if port.EndPort != nil && (port.Port.StrVal != "" || *port.EndPort < int32(port.Port.IntValue())) {
				errs = append(errs, fmt.Errorf("%s.endPort needs a numeric port no greater than it", at))
			}
		}
	}
	selector("spec.podSelector", &p.Spec.PodSelector)
	for _, t := range p.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, fmt.Errorf("spec.policyTypes: unknown type %q", t))
		}
	}
	for i, r := range p.Spec.Ingress {
		peers(fmt.Sprintf("spec.ingress[%d].from", i), r.From)
		ports(fmt.Sprintf("spec.ingress[%d].ports", i), r.Ports)
	}
	for i, r := range p.Spec.Egress {
		peers(fmt.Sprintf("spec.egress[%d].to", i), r.To)
		ports(fmt.Sprintf("spec.egress[%d].ports", i), r.Ports)
	}
	return errors.Join(errs...)
}
