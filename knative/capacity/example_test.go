package capacity_test

import (
	"fmt"
	"os"

	"github.com/parley-chat/parley/knative/capacity"
)

// The sizing of issue 16's goal, as CAPACITY.md shows it.
func ExampleWriteTable() {
	var models []capacity.Model
	for _, f := range capacity.FanOuts {
		models = append(models, capacity.Measured(f))
	}
	if err := capacity.WriteTable(os.Stdout, models); err != nil {
		fmt.Println(err)
	}
	// Output:
	// | online recipients per message (fan-out) | 2 | 20 | 100 |
	// |---|---|---|---|
	// | deliveries/s | 100,000 | 1,000,000 | 5,000,000 |
	// | connector CPU, cores (deliveries + sends + further connectors) | 32.4 (0.81 + 30.9 + 0.67) | 49.6 (8.12 + 30.9 + 10.5) | 114.4 (40.6 + 30.9 + 42.9) |
	// | connectors for memory / for CPU | 20 / 27 | 20 / 42 | 20 / 96 |
	// | **connectors** (replicas) | **27** × 2 cores, 1 GiB | **42** × 2 cores, 1 GiB | **96** × 2 cores, 1 GiB |
	// |   CPU / memory used per connector | 60% / 43% | 59% / 28% | 60% / 12% |
	// | connectors one message reaches | 2.0 | 16.1 | 62.3 |
	// | Redis CPU, cores (of which pub/sub to further connectors) | 9.94 (0.14) | 12.1 (2.26) | 19.0 (9.20) |
	// | **Redis** | **Redis Cluster, 20 shards** | **Redis Cluster, 25 shards** | **Redis Cluster, 38 shards** |
	// | **Kafka partitions** (ordered consumers / throughput / floor) | **20** (10 / 20 / 12) | **20** (10 / 20 / 12) | **20** (10 / 20 / 12) |
	// | **persist** replicas (cores) | **10** (5.55) | **10** (5.55) | **10** (5.55) |
	// | **moderation (demo model)** replicas (cores) | **9** (4.95) | **9** (4.95) | **9** (4.95) |
	// | **notification** replicas (cores) | **6** (3.05) | **6** (3.05) | **6** (3.05) |
	// | **search** replicas (cores) | **23** (13.5) | **23** (13.5) | **23** (13.5) |
	// | FerretDB, cores | 3.60 | 3.60 | 3.60 |
	// | PostgreSQL (persist, notification), cores | 1.95 | 1.95 | 1.95 |
	// | PostgreSQL (search), cores | 9.75 | 9.75 | 9.75 |
	// | Broker, emulated (kfake + dispatch), cores | 24.8 | 24.8 | 24.8 |
}
