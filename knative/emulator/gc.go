package emulator

import (
	"os"
	"runtime/debug"
)

// hostGCPercent is the GOGC of a process that hosts the emulated Broker
// (and, in make run and make bench-peers, the Kafka broker beside it). Its
// Triggers allocate for every event they fetch and deliver, so at Go's
// default of 100 it collects many times a second, 13% of its CPU in issue
// 16's S1; 400 took about 0.045 cores (0.09 ms per message) off it there
// (knative/BENCHMARKS.md) for some more megabytes. On a cluster this
// process is Knative's dispatcher and Kafka, which tune their own heaps;
// Parley's services keep Go's default (400 made no measurable difference
// to theirs).
const hostGCPercent = 400

// TuneHostGC sets this process's GOGC for hosting the emulator, unless the
// environment's GOGC says otherwise.
func TuneHostGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(hostGCPercent)
	}
}
