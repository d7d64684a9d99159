package capacity

import (
	"fmt"
	"io"
	"strings"
)

// WriteTable writes the sizing of each model as one Markdown table, a
// column per model (they differ in fan-out).
func WriteTable(w io.Writer, models []Model) error {
	sizings := make([]Sizing, len(models))
	for i, m := range models {
		s, err := m.Size()
		if err != nil {
			return err
		}
		sizings[i] = s
	}
	row := func(label string, cell func(Model, Sizing) string) {
		cells := []string{label}
		for i, m := range models {
			cells = append(cells, cell(m, sizings[i]))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	row("online recipients per message (fan-out)", func(m Model, _ Sizing) string { return count(m.FanOut) })
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(models)+1))
	row("deliveries/s", func(_ Model, s Sizing) string { return count(s.Deliveries) })
	row("connector CPU, cores (deliveries + sends + further connectors)", func(_ Model, s Sizing) string {
		return fmt.Sprintf("%s (%s + %s + %s)", cores(s.ConnectorCores), cores(s.ConnectorDeliveryCores), cores(s.ConnectorSendCores),
			cores(s.ConnectorReceiveCores))
	})
	row("connectors for memory / for CPU", func(_ Model, s Sizing) string {
		return fmt.Sprintf("%d / %d", s.ConnectorsForMemory, s.ConnectorsForCPU)
	})
	row("**connectors** (replicas)", func(m Model, s Sizing) string {
		return fmt.Sprintf("**%d** × %s cores, %s GiB", s.Connectors, count(m.ConnectorCores), count(m.ConnectorBytes/(1<<30)))
	})
	row("  CPU / memory used per connector", func(_ Model, s Sizing) string {
		return fmt.Sprintf("%.0f%% / %.0f%%", s.ConnectorCoresUsed*100, s.ConnectorMemoryUsed*100)
	})
	row("connectors one message reaches", func(_ Model, s Sizing) string { return fmt.Sprintf("%.1f", s.ConnectorsPerMessage) })
	row("Redis CPU, cores (of which pub/sub to further connectors)", func(_ Model, s Sizing) string {
		return fmt.Sprintf("%s (%s)", cores(s.RedisCores), cores(s.RedisPubSubCores))
	})
	row("Redis memory for send records, GB", func(_ Model, s Sizing) string { return count(s.RedisRecordBytes / 1e9) })
	row("Redis shards for CPU / for memory", func(_ Model, s Sizing) string {
		return fmt.Sprintf("%d / %d", s.RedisShardsForCPU, s.RedisShardsForMemory)
	})
	row("**Redis**", func(_ Model, s Sizing) string {
		if s.Cluster() {
			return fmt.Sprintf("**Redis Cluster, %d shards**", s.RedisShards)
		}
		return "**one Redis**"
	})
	row("**Kafka partitions** (ordered consumers / throughput / floor)", func(m Model, s Sizing) string {
		return fmt.Sprintf("**%d** (%d / %d / %d)", s.Partitions, s.PartitionsForOrder, s.PartitionsForThroughput, m.MinPartitions)
	})
	for i, f := range models[0].Functions {
		row(fmt.Sprintf("**%s** replicas (cores)", f.Name), func(m Model, s Sizing) string {
			return fmt.Sprintf("**%d** (%s)", s.Functions[i].Replicas, cores(s.Functions[i].Cores))
		})
	}
	for i, p := range models[0].Stores {
		row(p.Name+", cores", func(_ Model, s Sizing) string { return cores(s.Stores[i].Cores) })
	}
	return nil
}

func cores(c float64) string {
	if c < 10 {
		return fmt.Sprintf("%.2f", c)
	}
	return fmt.Sprintf("%.1f", c)
}

// count writes a whole number with thousands separators.
func count(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
