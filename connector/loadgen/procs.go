package loadgen

import (
	"os"
	"strconv"

	"github.com/parley-chat/parley/knative/procstat"
)

// connectorName is the connector's process name.
const connectorName = "connector"

// serverNames are the processes of a local Parley stack: the launcher
// (which also runs the embedded Kafka and the emulated Broker), the
// services, queue-proxy and the stores.
var serverNames = []string{"parley-dev", connectorName, "auth", "persist", "moderation", "notification", "queue",
	"ferretdb", "redis-server", "postgres"}

// stackProcs finds the stack's server processes (see Config.StackPID) and
// says how; nil when it finds none (not Linux, nothing running).
func stackProcs(root int) (procstat.Snapshot, string) {
	all, err := procstat.All()
	if err != nil {
		return nil, "not found: " + err.Error()
	}
	self := os.Getpid()
	if root == 0 {
		if launchers := all.Named("parley-dev"); len(launchers) == 1 {
			for pid := range launchers {
				root = pid
			}
		}
	}
	if root != 0 {
		return all.Tree(root, self), "the process tree of pid " + strconv.Itoa(root)
	}
	named := all.Named(serverNames...)
	delete(named, self)
	if len(named) == 0 {
		return nil, "not found: no process named like a server of the stack"
	}
	// Other stacks on the machine count too: say so.
	return named, "every process named like a server of the stack (" + strconv.Itoa(len(named)) + "; any other stack on the machine included)"
}
