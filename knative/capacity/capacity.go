// Package capacity sizes a Parley cluster from the per-unit costs measured
// on one machine (issue 16, goal 5): how many connectors, Redis cores and
// shards, Kafka partitions and function replicas a number of sockets and
// durable messages per second take, at a fan-out. It is arithmetic on
// measured constants, not a simulation: every constant in Measured names
// the file and the run it comes from, and CAPACITY.md says what the model
// assumes and what nobody has measured yet.
package capacity

import (
	"fmt"
	"math"
)

// Cost is one measured (or, where Source says so, assumed) quantity and
// where it comes from.
type Cost struct {
	Value  float64 // in the unit the field it fills names
	Source string
}

// Model is the workload, the measured costs and the sizing policy.
type Model struct {
	// The workload.
	Sockets           float64 // concurrent WebSocket connections
	MessagesPerSecond float64 // durable messages (parley.message.sent) per second
	// FanOut is how many sockets each message reaches, the sender's
	// included (as parley-load counts deliveries).
	FanOut float64

	// The connector.
	SocketBytes Cost // resident memory per idle, subscribed socket, bytes
	DeliveryCPU Cost // CPU seconds per delivery (a frame written to one socket)
	SendCPU     Cost // CPU seconds per durable message on the sender's connector
	// ReceiveCPU is the CPU seconds the connectors spend per message for
	// each connector it reaches beyond the first (the envelope from Redis,
	// and whatever a connector does per message besides its deliveries):
	// what spreading a room over connectors costs them. The first is in
	// SendCPU and DeliveryCPU, measured on one connector.
	ReceiveCPU Cost
	// The connector's replica: cores and memory it may use, and the most
	// sockets one may hold whatever its memory (how many reconnect at
	// once when it goes).
	ConnectorCores, ConnectorBytes float64
	MaxSocketsPerConnector         float64

	// Functions are the Broker's subscribers, each a replica of
	// FunctionCores cores; Stores and the Broker's processes are sized in
	// cores.
	Functions     []Process
	FunctionCores float64
	Stores        []Process

	// Redis: CPU seconds per durable message with every member on one
	// connector (the claim script, the history window, the publish to one
	// subscriber), plus PubSubCPU per further connector the envelope goes
	// to. One Redis (or one shard) is one core: it runs commands on one
	// thread.
	RedisCPU, PubSubCPU Cost
	// RecordBytes is the Redis memory each durable message holds for
	// RecordSeconds: its send record, which answers a retry of its
	// client_msg_id. RedisShardBytes is one shard's memory.
	RecordBytes                    Cost
	RecordSeconds, RedisShardBytes float64

	// Kafka: the least partitions of the Broker's topic (key = room), and
	// what one partition is planned to carry.
	MinPartitions      int
	EventsPerMessage   float64 // events on the topic per durable message (sent, stored)
	EventBytes         Cost    // bytes per event on the topic
	PartitionBytesRate float64 // bytes/s planned per partition

	// Utilisation is the share of a core (or of memory) that sizing plans
	// to use, leaving the rest for peaks, restarts and a lost replica;
	// RedisUtilisation the same for a Redis core, lower because every send
	// waits on it and its fork for persistence shares the machine.
	Utilisation, RedisUtilisation float64
}

// Process is one kind of process and its CPU seconds per durable message.
type Process struct {
	Name string
	CPU  Cost
	// Ordered: it consumes ordered Triggers, which deliver one event per
	// partition at a time, so the topic needs a partition per replica to
	// keep every replica busy.
	Ordered bool
}

// Sizing is what a Model needs.
type Sizing struct {
	Deliveries float64 // per second

	// Connectors: the replicas memory asks for, those CPU asks for, and
	// the answer (the larger); ConnectorsPerMessage is how many of them
	// one message reaches (each gets the envelope from Redis).
	SocketsPerConnector                         float64
	ConnectorsForMemory, ConnectorsForCPU       int
	Connectors                                  int
	ConnectorsPerMessage                        float64
	ConnectorCores                              float64 // CPU the connectors use in all, cores
	ConnectorCoresUsed, ConnectorMemoryUsed     float64 // share of each replica used
	ConnectorDeliveryCores, ConnectorSendCores  float64 // ConnectorCores by cause …
	ConnectorReceiveCores                       float64 // … and the envelopes from Redis
	RedisCores                                  float64 // CPU Redis uses in all
	RedisRecordBytes                            float64 // memory the send records hold in all
	RedisShardsForCPU, RedisShardsForMemory     int     // one core each, at RedisUtilisation of its core and memory
	RedisShards                                 int     // the larger
	RedisPubSubCores                            float64 // of RedisCores, the envelopes to further connectors
	Partitions                                  int
	PartitionsForOrder, PartitionsForThroughput int
	Functions                                   []Replicas
	Stores                                      []Replicas
}

// Replicas is one process's share: the cores it uses and, for functions,
// the replicas that takes.
type Replicas struct {
	Name     string
	Cores    float64
	Replicas int
}

// Cluster says whether the sizing needs Redis Cluster.
func (s Sizing) Cluster() bool { return s.RedisShards > 1 }

// replicas is how many units of capacity each hold work, planned at
// utilisation: rounded up, at least one.
func replicas(work, capacity, utilisation float64) int {
	if work <= 0 {
		return 1
	}
	// A hair of tolerance so that 3.0000000001 from floating point does
	// not become 4.
	return max(1, int(math.Ceil(work/(capacity*utilisation)-1e-9)))
}

// Reached is how many of n connectors hold at least one of m members of a
// room, the members placed on connectors at random (each connector equally
// likely): n(1 − (1 − 1/n)^m). A room's envelope goes to each of them.
func Reached(n int, m float64) float64 {
	if n <= 1 || m <= 1 {
		return min(float64(n), max(m, 1))
	}
	return float64(n) * (1 - math.Pow(1-1/float64(n), m))
}

// Size sizes m.
func (m Model) Size() (Sizing, error) {
	if err := m.check(); err != nil {
		return Sizing{}, err
	}
	s := Sizing{Deliveries: m.MessagesPerSecond * m.FanOut}
	s.SocketsPerConnector = min(m.MaxSocketsPerConnector, math.Floor(m.ConnectorBytes*m.Utilisation/m.SocketBytes.Value))
	s.ConnectorsForMemory = replicas(m.Sockets, s.SocketsPerConnector, 1)
	s.ConnectorDeliveryCores = s.Deliveries * m.DeliveryCPU.Value
	s.ConnectorSendCores = m.MessagesPerSecond * m.SendCPU.Value
	// The envelopes each connector receives grow with the connectors, so
	// the count is found by iterating from memory's: more connectors
	// never make fewer.
	n := s.ConnectorsForMemory
	for range 100 {
		s.ConnectorsPerMessage = Reached(n, m.FanOut)
		s.ConnectorReceiveCores = m.MessagesPerSecond * max(s.ConnectorsPerMessage-1, 0) * m.ReceiveCPU.Value
		s.ConnectorCores = s.ConnectorDeliveryCores + s.ConnectorSendCores + s.ConnectorReceiveCores
		s.ConnectorsForCPU = replicas(s.ConnectorCores, m.ConnectorCores, m.Utilisation)
		next := max(s.ConnectorsForMemory, s.ConnectorsForCPU)
		if next <= n {
			break
		}
		n = next
	}
	s.Connectors = n
	s.ConnectorCoresUsed = s.ConnectorCores / (float64(n) * m.ConnectorCores)
	s.ConnectorMemoryUsed = m.Sockets / float64(n) * m.SocketBytes.Value / m.ConnectorBytes

	s.RedisPubSubCores = m.MessagesPerSecond * max(s.ConnectorsPerMessage-1, 0) * m.PubSubCPU.Value
	s.RedisCores = m.MessagesPerSecond*m.RedisCPU.Value + s.RedisPubSubCores
	s.RedisShardsForCPU = replicas(s.RedisCores, 1, m.RedisUtilisation)
	s.RedisRecordBytes = m.MessagesPerSecond * m.RecordSeconds * m.RecordBytes.Value
	s.RedisShardsForMemory = replicas(s.RedisRecordBytes, m.RedisShardBytes, m.RedisUtilisation)
	s.RedisShards = max(s.RedisShardsForCPU, s.RedisShardsForMemory)

	for _, f := range m.Functions {
		cores := m.MessagesPerSecond * f.CPU.Value
		r := Replicas{Name: f.Name, Cores: cores, Replicas: replicas(cores, m.FunctionCores, m.Utilisation)}
		s.Functions = append(s.Functions, r)
		if f.Ordered {
			s.PartitionsForOrder = max(s.PartitionsForOrder, r.Replicas)
		}
	}
	for _, p := range m.Stores {
		s.Stores = append(s.Stores, Replicas{Name: p.Name, Cores: m.MessagesPerSecond * p.CPU.Value})
	}
	s.PartitionsForThroughput = replicas(m.MessagesPerSecond*m.EventsPerMessage*m.EventBytes.Value, m.PartitionBytesRate, 1)
	s.Partitions = max(m.MinPartitions, s.PartitionsForOrder, s.PartitionsForThroughput)
	return s, nil
}

func (m Model) check() error {
	for name, v := range map[string]float64{
		"Sockets": m.Sockets, "MessagesPerSecond": m.MessagesPerSecond, "FanOut": m.FanOut,
		"SocketBytes": m.SocketBytes.Value, "DeliveryCPU": m.DeliveryCPU.Value, "ConnectorCores": m.ConnectorCores,
		"ConnectorBytes": m.ConnectorBytes, "MaxSocketsPerConnector": m.MaxSocketsPerConnector,
		"FunctionCores": m.FunctionCores, "PartitionBytesRate": m.PartitionBytesRate, "RedisShardBytes": m.RedisShardBytes,
		"Utilisation": m.Utilisation, "RedisUtilisation": m.RedisUtilisation,
	} {
		if !(v > 0) {
			return fmt.Errorf("capacity: %s must be positive, not %v", name, v)
		}
	}
	if m.Utilisation > 1 || m.RedisUtilisation > 1 {
		return fmt.Errorf("capacity: a utilisation is a share of at most 1")
	}
	if m.SocketBytes.Value > m.ConnectorBytes*m.Utilisation {
		return fmt.Errorf("capacity: a connector of %.0f bytes at %.0f%% holds no socket of %.0f bytes",
			m.ConnectorBytes, m.Utilisation*100, m.SocketBytes.Value)
	}
	return nil
}
