package emulator

import (
	"runtime/debug"
	"testing"
)

func TestTheHostCollectsLessOftenUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	TuneHostGC()
	if got := debug.SetGCPercent(100); got != hostGCPercent {
		t.Errorf("GOGC %d with none set, want %d", got, hostGCPercent)
	}
	t.Setenv("GOGC", "50") // read by the runtime at start; here, only to be left alone
	TuneHostGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d, changed though the environment sets it", got)
	}
}
