package capacity

import livev1 "github.com/parley-chat/parley/proto/parley/live/v1"

// µs is a microsecond of CPU in seconds.
const µs = 1e-6

// Goal is issue 16's target: a million concurrent sockets and 50,000
// durable messages a second.
const (
	GoalSockets  = 1_000_000
	GoalMessages = 50_000
)

// FanOuts are the shapes the table shows: a direct message (its two
// members online), a group, a large room.
var FanOuts = []float64{2, 20, 100}

// Measured is issue 16's goal at fanOut, with the costs measured so far
// and the planning policy of CAPACITY.md. Every Cost says where it comes
// from; those whose Source starts with "assumed" are not measurements.
func Measured(fanOut float64) Model {
	const scale = "make bench-peers PEERS_ONLY=scale (knative/BENCHMARKS.md, \"Goal 5\"), 2026-12-06: a smoke run " +
		"(200 sockets, 5 s) and three of 1,000 sockets (10 s), on the shared 2-core machine"
	const pipeline = "functions/BENCHMARKS.md, \"The whole pipeline at 500 messages/s\", after column, highest of 3 runs " +
		"(BenchmarkFanout/10pub_50ps, knative/platform, 2026-12-06)"
	return Model{
		Sockets: GoalSockets, MessagesPerSecond: GoalMessages, FanOut: fanOut,

		SocketBytes: Cost{10.7 * 1024, "connector/BENCHMARKS.md, \"Idle sockets: memory per connection\": BenchmarkIdleConnections, " +
			"10,000 sockets, RSS per socket, 9.8, 10.7 and 10.4 KB at commit e847c39 (2026-12-07); the highest"},
		// The line through rooms of 2 and rooms of 20 or 100 on one
		// connector: see CAPACITY.md, "Which CPU per delivery".
		DeliveryCPU: Cost{9.33 * µs, scale + "; connector CPU per message = send + members × delivery through rooms of 2 and " +
			"rooms of 20 or 100: 8.12, 5.88, 7.58 and 9.33 µs per delivery in the four runs; the highest"},
		SendCPU: Cost{618 * µs, scale + "; the same lines: 618, 578, 607 and 536 µs per send; the highest"},
		ReceiveCPU: Cost{238 * µs, scale + ": connector CPU with 3 connectors minus 1's, per message per further connector: " +
			"133, 14, 238 and 221 µs; the highest (14 came from a saturated run: see CAPACITY.md)"},
		ConnectorCores: 2, ConnectorBytes: 1 << 30, MaxSocketsPerConnector: 50_000,

		Functions: []Process{
			{Name: "persist", CPU: Cost{111 * µs, pipeline}, Ordered: true},
			{Name: "moderation (demo model)", CPU: Cost{99 * µs, pipeline}},
			{Name: "notification", CPU: Cost{61 * µs, pipeline}, Ordered: true},
			{Name: "search", CPU: Cost{270 * µs, "functions/BENCHMARKS.md, \"Search: indexing per message\", one smoke run " +
				"(2026-12-06): the test process, handler and load together, so an upper bound"}},
		},
		FunctionCores: 1,
		Stores: []Process{
			{Name: "FerretDB", CPU: Cost{72 * µs, pipeline}},
			{Name: "PostgreSQL (persist, notification)", CPU: Cost{39 * µs, pipeline}},
			{Name: "PostgreSQL (search)", CPU: Cost{195 * µs, "functions/BENCHMARKS.md, \"Search: indexing per message\", one smoke run (2026-12-06)"}},
			{Name: "Broker, emulated (kfake + dispatch)", CPU: Cost{495 * µs, pipeline + "; a real Kafka broker and Knative's dispatcher differ: unmeasured"}},
		},

		RedisCPU: Cost{196 * µs, scale + ": redis-server CPU per message with one connector, rooms of 2: 196, 190, 192 and " +
			"175 µs (141–181 µs in rooms of 20 or 100); with every Trigger 141–157 µs (" + pipeline + "); the highest"},
		PubSubCPU: Cost{23.6 * µs, scale + ": redis-server CPU with 3 connectors minus 1's, per message per further connector: " +
			"15.4, 3.0, 23.5 and 23.6 µs; the highest"},

		RecordBytes: Cost{200, "connector/BENCHMARKS.md, \"Redis's work per send\": BenchmarkSendPath's redis_record_B/op, " +
			"MEMORY USAGE of a delivered send's record, key included (2026-12-07)"},
		RecordSeconds:   livev1.DedupTTL.Seconds(),
		RedisShardBytes: 32 << 30, // assumed: a memory-optimised node's; not measured

		MinPartitions:      12, // kafka/topics/broker.yaml
		EventsPerMessage:   2,  // parley.message.sent and parley.message.stored
		EventBytes:         Cost{1024, "assumed: a 100-character message's CloudEvent with its headers, rounded up; not measured"},
		PartitionBytesRate: 5 << 20, // assumed planning figure per partition; not measured here

		Utilisation: 0.6, RedisUtilisation: 0.5,
	}
}
