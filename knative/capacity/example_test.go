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
	// | connector CPU, cores (deliveries + sends + further connectors) | 43.4 (0.93 + 30.9 + 11.6) | 256.1 (9.33 + 30.9 + 215.8) | 1198.6 (46.7 + 30.9 + 1121.0) |
	// | connectors for memory / for CPU | 20 / 37 | 20 / 214 | 20 / 999 |
	// | **connectors** (replicas) | **37** × 2 cores, 1 GiB | **214** × 2 cores, 1 GiB | **999** × 2 cores, 1 GiB |
	// |   CPU / memory used per connector | 59% / 28% | 60% / 5% | 60% / 1% |
	// | connectors one message reaches | 2.0 | 19.1 | 95.2 |
	// | Redis CPU, cores (of which pub/sub to further connectors) | 10.9 (1.15) | 31.2 (21.4) | 121.0 (111.2) |
	// | Redis memory for send records, GB | 864 | 864 | 864 |
	// | Redis shards for CPU / for memory | 22 / 51 | 63 / 51 | 242 / 51 |
	// | **Redis** | **Redis Cluster, 51 shards** | **Redis Cluster, 63 shards** | **Redis Cluster, 242 shards** |
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
