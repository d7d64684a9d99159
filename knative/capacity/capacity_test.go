package capacity

import (
	"math"
	"os"
	"strings"
	"testing"
)

// small is a model whose numbers are easy to follow by hand.
func small() Model {
	return Model{
		Sockets: 100_000, MessagesPerSecond: 1000, FanOut: 10,
		SocketBytes: Cost{Value: 10_000}, DeliveryCPU: Cost{Value: 10 * µs}, SendCPU: Cost{Value: 100 * µs},
		ReceiveCPU:     Cost{Value: 0},
		ConnectorCores: 2, ConnectorBytes: 1e9, MaxSocketsPerConnector: 50_000,
		Functions:     []Process{{Name: "persist", CPU: Cost{Value: 600 * µs}, Ordered: true}, {Name: "moderation", CPU: Cost{Value: 1200 * µs}}},
		FunctionCores: 1,
		RedisCPU:      Cost{Value: 100 * µs}, PubSubCPU: Cost{Value: 0},
		RecordBytes: Cost{Value: 100}, RecordSeconds: 3600, RedisShardBytes: 1e9,
		MinPartitions: 3, EventsPerMessage: 2, EventBytes: Cost{Value: 1000}, PartitionBytesRate: 1e6,
		Utilisation: 0.6, RedisUtilisation: 0.5,
	}
}

func TestReplicasRoundUpWithHeadroom(t *testing.T) {
	for _, tc := range []struct {
		work, capacity, utilisation float64
		want                        int
	}{
		{6, 1, 0.6, 10},      // exactly full at 60%
		{6.001, 1, 0.6, 11},  // a hair more takes one more
		{5.999, 1, 0.6, 10},  // a hair less still rounds up
		{0.1, 2, 0.6, 1},     // at least one
		{0, 2, 0.6, 1},       // nothing to do: still one
		{100, 50, 1, 2},      // no headroom
		{3.6, 2, 0.6, 3},     // 3.6 cores on 2-core replicas at 60%
		{1e6, 49_152, 1, 21}, // sockets per replica
	} {
		if got := replicas(tc.work, tc.capacity, tc.utilisation); got != tc.want {
			t.Errorf("replicas(%v, %v, %v) = %d, want %d", tc.work, tc.capacity, tc.utilisation, got, tc.want)
		}
	}
}

func TestReached(t *testing.T) {
	for _, tc := range []struct {
		n    int
		m    float64
		want float64
	}{
		{1, 100, 1}, // one connector holds everyone
		{10, 1, 1},  // one member is on one connector
		{2, 2, 1.5}, // 2(1 − 1/4)
		{3, 3, 3 * (1 - 8.0/27)},
		{1000, 2, 1.999}, // many connectors: nearly every member on its own
	} {
		if got := Reached(tc.n, tc.m); math.Abs(got-tc.want) > 1e-3 {
			t.Errorf("Reached(%d, %v) = %v, want %v", tc.n, tc.m, got, tc.want)
		}
	}
}

func TestConnectorsForMemoryAndForCPU(t *testing.T) {
	m := small()
	s, err := m.Size()
	if err != nil {
		t.Fatal(err)
	}
	// 1e9 × 0.6 / 10,000 = 60,000 sockets, capped at 50,000: 2 replicas.
	// CPU: 10,000 deliveries × 10 µs + 1,000 sends × 100 µs = 0.2 cores.
	if s.SocketsPerConnector != 50_000 || s.ConnectorsForMemory != 2 || s.ConnectorsForCPU != 1 || s.Connectors != 2 {
		t.Errorf("memory-bound: %+v", s)
	}
	if math.Abs(s.ConnectorCores-0.2) > 1e-9 || math.Abs(s.ConnectorCoresUsed-0.05) > 1e-9 {
		t.Errorf("cores %v, used %v; want 0.2, 5%%", s.ConnectorCores, s.ConnectorCoresUsed)
	}

	// 100 times the messages: 20 cores, on 2-core replicas at 60%: 17.
	m.MessagesPerSecond *= 100
	if s, _ = m.Size(); s.ConnectorsForCPU != 17 || s.Connectors != 17 {
		t.Errorf("CPU-bound: %d for CPU, %d in all; want 17", s.ConnectorsForCPU, s.Connectors)
	}

	// Envelopes from Redis cost each connector reached: more connectors,
	// more envelopes, which the count must settle on.
	m = small()
	m.MaxSocketsPerConnector = 1000 // 100 connectors for memory
	m.FanOut = 100
	m.ReceiveCPU = Cost{Value: 100 * µs}
	s, _ = m.Size()
	reached := Reached(s.Connectors, 100)
	want := 1000*100*10*µs + 1000*100*µs + 1000*(reached-1)*100*µs // the first connector is in the send and deliveries
	if s.Connectors != 100 || math.Abs(s.ConnectorCores-want) > 1e-9 || math.Abs(s.ConnectorsPerMessage-reached) > 1e-9 {
		t.Errorf("with envelopes: %d connectors, %v cores (want %v), reached %v", s.Connectors, s.ConnectorCores, want, s.ConnectorsPerMessage)
	}
	m.ReceiveCPU = Cost{Value: 2000 * µs} // now the envelopes alone need more replicas than memory
	s, _ = m.Size()
	if s.Connectors <= 100 || s.Connectors != s.ConnectorsForCPU || s.ConnectorsForCPU != replicas(s.ConnectorCores, 2, 0.6) {
		t.Errorf("envelope-bound: %d connectors, %d for CPU at %v cores", s.Connectors, s.ConnectorsForCPU, s.ConnectorCores)
	}
}

// One Redis runs 0.5 / 100 µs = 5,000 messages/s; past that the model
// asks for Redis Cluster. (No send records here: CPU alone decides.)
func TestRedisClusterVerdictFlips(t *testing.T) {
	for _, tc := range []struct {
		rate   float64
		shards int
	}{
		{4000, 1},
		{5000, 1},
		{5001, 2},
		{10_000, 2},
		{10_001, 3},
		{50_000, 10},
	} {
		m := small()
		m.MessagesPerSecond, m.RecordBytes = tc.rate, Cost{}
		s, err := m.Size()
		if err != nil {
			t.Fatal(err)
		}
		if s.RedisShards != tc.shards || s.Cluster() != (tc.shards > 1) {
			t.Errorf("%v msg/s: %d shards (cluster %v), want %d", tc.rate, s.RedisShards, s.Cluster(), tc.shards)
		}
	}
	// Pub/sub to further connectors counts: 4,000 messages reaching 2
	// connectors at 25 µs for the second is 4,000 × 125 µs = 0.5 cores.
	m := small()
	m.MessagesPerSecond, m.FanOut, m.MaxSocketsPerConnector, m.PubSubCPU = 4000, 2, 1, Cost{Value: 25 * µs}
	m.RecordBytes = Cost{}
	m.Sockets = 1e6 // so many connectors that the two members are nearly always apart
	s, _ := m.Size()
	if want := 4000 * (s.ConnectorsPerMessage - 1) * 25 * µs; math.Abs(s.RedisPubSubCores-want) > 1e-9 || s.RedisShards != 1 {
		t.Errorf("pub/sub cores %v, want %v; %d shards, want 1", s.RedisPubSubCores, want, s.RedisShards)
	}
	m.PubSubCPU = Cost{Value: 26 * µs}
	if s, _ = m.Size(); s.RedisShards != 2 {
		t.Errorf("over by pub/sub: %d shards, want 2", s.RedisShards)
	}
}

func TestFunctionsAndPartitions(t *testing.T) {
	m := small()
	s, _ := m.Size()
	// persist 0.6 cores / 0.6 = 1 replica; moderation 1.2 / 0.6 = 2.
	// Throughput: 1,000 × 2 × 1,000 B = 2 MB/s at 1 MB/s each: 2.
	if s.Functions[0].Replicas != 1 || s.Functions[1].Replicas != 2 || s.PartitionsForOrder != 1 ||
		s.PartitionsForThroughput != 2 || s.Partitions != 3 {
		t.Errorf("at 1,000/s: %+v, partitions %d (%d ordered, %d throughput)", s.Functions, s.Partitions, s.PartitionsForOrder, s.PartitionsForThroughput)
	}
	m.MessagesPerSecond = 10_000 // persist 6 cores: 10 replicas, so 10 partitions; moderation is unordered
	s, _ = m.Size()
	if s.Functions[0].Replicas != 10 || s.Functions[1].Replicas != 20 || s.PartitionsForOrder != 10 || s.Partitions != 20 {
		t.Errorf("at 10,000/s: %+v, partitions %d (%d ordered, %d throughput)", s.Functions, s.Partitions, s.PartitionsForOrder, s.PartitionsForThroughput)
	}
}

func TestBadModels(t *testing.T) {
	for name, change := range map[string]func(*Model){
		"no sockets":           func(m *Model) { m.Sockets = 0 },
		"utilisation over 1":   func(m *Model) { m.Utilisation = 1.2 },
		"no delivery cost":     func(m *Model) { m.DeliveryCPU.Value = 0 },
		"socket over replica":  func(m *Model) { m.SocketBytes.Value = 2e9 },
		"NaN fan-out":          func(m *Model) { m.FanOut = math.NaN() },
		"no redis utilisation": func(m *Model) { m.RedisUtilisation = 0 },
	} {
		m := small()
		change(&m)
		if _, err := m.Size(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Every constant of Measured says where it comes from.
// Send records take Redis memory for as long as a retry is recognised:
// 1,000 messages/s × 100 B for an hour is 0.36 GB, under one shard's half
// GB; for a day, 8.64 GB takes 18 shards, where CPU asks for one.
func TestRedisShardsForTheSendRecords(t *testing.T) {
	m := small()
	s, _ := m.Size()
	if s.RedisRecordBytes != 3.6e8 || s.RedisShardsForMemory != 1 || s.RedisShards != 1 {
		t.Errorf("an hour: %v bytes, %d shards for memory, %d in all; want 3.6e8, 1, 1", s.RedisRecordBytes, s.RedisShardsForMemory, s.RedisShards)
	}
	m.RecordSeconds = 86_400
	s, _ = m.Size()
	if s.RedisShardsForCPU != 1 || s.RedisShardsForMemory != 18 || s.RedisShards != 18 || !s.Cluster() {
		t.Errorf("a day: %d shards for CPU, %d for memory, %d in all; want 1, 18, 18", s.RedisShardsForCPU, s.RedisShardsForMemory, s.RedisShards)
	}
}

func TestMeasuredCitesItsSources(t *testing.T) {
	m := Measured(20)
	costs := map[string]Cost{"SocketBytes": m.SocketBytes, "DeliveryCPU": m.DeliveryCPU, "SendCPU": m.SendCPU,
		"ReceiveCPU": m.ReceiveCPU, "RedisCPU": m.RedisCPU, "PubSubCPU": m.PubSubCPU, "EventBytes": m.EventBytes,
		"RecordBytes": m.RecordBytes}
	for _, p := range append(m.Functions, m.Stores...) {
		costs[p.Name] = p.CPU
	}
	for name, c := range costs {
		if strings.TrimSpace(c.Source) == "" {
			t.Errorf("%s has no source", name)
		}
	}
}

// The table in CAPACITY.md is this one.
func TestCapacityMDHasTheTable(t *testing.T) {
	var models []Model
	for _, f := range FanOuts {
		models = append(models, Measured(f))
	}
	var b strings.Builder
	if err := WriteTable(&b, models); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../CAPACITY.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), b.String()) {
		t.Errorf("knative/CAPACITY.md does not hold the table as the model writes it now:\n%s", b.String())
	}
}
