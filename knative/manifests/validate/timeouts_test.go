package validate

import (
	"context"
	"testing"

	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// TestConnectorWebSocketsLiveTheirTimeout: queue-proxy's response-start
// timer only stops on a write through its ResponseWriter, and a proxied
// WebSocket's 101 is written on the hijacked connection instead, so the
// timer cuts every socket when it fires (knative/serving#16169). The
// connector's sockets must therefore live to timeoutSeconds, which the
// webhook's defaults (response start from the cluster default of 300 s)
// would otherwise undercut; an idle timeout would cut them too.
func TestConnectorWebSocketsLiveTheirTimeout(t *testing.T) {
	objs := renderBase(t)
	for _, o := range objs {
		if o.Kind != "Service" || o.Name != "connector" {
			continue
		}
		var svc servingv1.Service
		if err := yaml.Unmarshal(o.Raw, &svc); err != nil {
			t.Fatal(err)
		}
		svc.SetDefaults(apis.WithinCreate(context.Background()))
		spec := svc.Spec.Template.Spec
		timeout := *spec.TimeoutSeconds
		if timeout < 600 {
			t.Errorf("timeoutSeconds %d: a socket should live 600 s", timeout)
		}
		if rs := spec.ResponseStartTimeoutSeconds; rs != nil && *rs != 0 && *rs < timeout {
			t.Errorf("responseStartTimeoutSeconds %d cuts every WebSocket before timeoutSeconds %d", *rs, timeout)
		}
		if idle := spec.IdleTimeoutSeconds; idle != nil && *idle != 0 {
			t.Errorf("idleTimeoutSeconds %d cuts WebSockets: a hijacked connection never counts as a write", *idle)
		}
		return
	}
	t.Fatal("no connector Service in the base")
}
