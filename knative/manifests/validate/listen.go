package validate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/serving"
	"knative.dev/serving/pkg/networking"
)

// Every container of a Knative pod shares one network namespace with
// queue-proxy, which always binds Knative's reserved ports. Serving's
// webhook rejects a reserved containerPort, but not a server the program
// starts on a port named in its environment: that one crash-loops on the
// cluster. So every listen address a Service is configured with is checked.
//
// The rule for what counts as a listen address:
//   - every containerPort;
//   - every env var named PORT or ADDR, or ending in _PORT, _ADDR or
//     _ADDRESS, whose value is a port ("9464") or host:port (":9464",
//     "0.0.0.0:9464", "[::]:9464", "127.0.0.1:9464") on a host inside the pod:
//     empty, unspecified, localhost or loopback. host:port on any other host
//     is somewhere the program dials, not where it listens, and is skipped.
//
// Such a variable set with valueFrom, or any envFrom, cannot be checked here,
// so it is an error: set listen addresses as literal values.

// listenSuffixes are the env var name endings that mark a listen address.
var listenSuffixes = []string{"_PORT", "_ADDR", "_ADDRESS"}

func isListenVar(name string) bool {
	if name == "PORT" || name == "ADDR" {
		return true
	}
	for _, s := range listenSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// listenPort returns the port a listen-address value binds and whether the
// value binds inside the pod at all.
func listenPort(value string) (int32, bool, error) {
	portStr := value
	if strings.Contains(value, ":") {
		host, p, err := net.SplitHostPort(value)
		if err != nil {
			return 0, false, fmt.Errorf("not a port or host:port: %w", err)
		}
		if !localHost(host) {
			return 0, false, nil
		}
		portStr = p
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil || port < 1 || port > 65535 {
		return 0, false, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
	}
	return int32(port), true, nil
}

func localHost(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsUnspecified() || ip.IsLoopback())
}

// reservedByKnative asks serving's own pod validation whether a user
// container may use port: a pod spec that differs from a valid one only in
// that port is rejected exactly when serving reserves it. This reads the
// reserved set (serving's networking constants and the profiling port) from
// the pinned serving module itself rather than from a copy here. Serving's
// list leaves out the HTTPS port, which queue-proxy binds once
// system-internal TLS is on, so it is added from the same constants.
func reservedByKnative(port int32) bool {
	if port == networking.BackendHTTPSPort {
		return true
	}
	probe := corev1.PodSpec{Containers: []corev1.Container{{
		Image: "example.com/probe",
		Ports: []corev1.ContainerPort{{ContainerPort: port}},
	}}}
	return serving.ValidatePodSpec(context.Background(), probe).Filter(apis.ErrorLevel) != nil
}

// knativeDefaultPort is the port Knative gives a container that declares none.
const knativeDefaultPort = 8080

// checkListenAddresses applies the rule above to a Knative Service's pod.
func checkListenAddresses(ps corev1.PodSpec) error {
	var errs []error
	servingPort := int32(knativeDefaultPort)
	for _, c := range ps.Containers {
		if len(c.Ports) > 0 {
			servingPort = c.Ports[0].ContainerPort
		}
	}
	bound := map[int32]string{}
	claim := func(port int32, what string) {
		switch {
		case port < 1 || port > 65535:
			// serving's validation reports the range.
		case reservedByKnative(port):
			errs = append(errs, fmt.Errorf("%s listens on port %d, which Knative reserves for queue-proxy in every pod; choose another port", what, port))
		case bound[port] != "":
			errs = append(errs, fmt.Errorf("%s listens on port %d, already taken by %s in the same pod", what, port, bound[port]))
		default:
			bound[port] = what
		}
	}
	claim(servingPort, "the serving port (containerPort)")
	for _, c := range ps.Containers {
		if len(c.EnvFrom) > 0 {
			errs = append(errs, fmt.Errorf("container %q: envFrom hides which listen addresses it is given, so they cannot be checked against Knative's reserved ports; list the variables in env", c.Name))
		}
		for _, e := range c.Env {
			if !isListenVar(e.Name) {
				continue
			}
			what := fmt.Sprintf("container %q env %s=%q", c.Name, e.Name, e.Value)
			if e.ValueFrom != nil {
				errs = append(errs, fmt.Errorf("container %q env %s: a listen address set with valueFrom cannot be checked against Knative's reserved ports; set it as a literal value", c.Name, e.Name))
				continue
			}
			port, local, err := listenPort(e.Value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				continue
			}
			if local {
				claim(port, what)
			}
		}
	}
	return errors.Join(errs...)
}
