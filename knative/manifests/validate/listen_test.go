package validate

import (
	"testing"

	"knative.dev/pkg/observability/runtime"
	"knative.dev/serving/pkg/networking"
)

// TestReservedPortsAreKnatives checks the oracle against the ports
// queue-proxy is known to bind, named by serving's own constants, and
// against ports Parley uses.
func TestReservedPortsAreKnatives(t *testing.T) {
	for _, p := range []int32{networking.BackendHTTPPort, networking.BackendHTTP2Port, networking.BackendHTTPSPort,
		networking.QueueAdminPort, networking.AutoscalingQueueMetricsPort, networking.UserQueueMetricsPort,
		runtime.ProfilingDefaultPort} {
		if !reservedByKnative(p) {
			t.Errorf("port %d: queue-proxy binds it, but the check lets a container have it", p)
		}
	}
	for _, p := range []int32{8080, 9464, 9404} {
		if reservedByKnative(p) {
			t.Errorf("port %d reported reserved", p)
		}
	}
}
