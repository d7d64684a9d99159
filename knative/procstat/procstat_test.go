package procstat

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestTreeFindsChildrenAndTheirCPU(t *testing.T) {
	// A child that burns CPU until it is killed.
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	before, err := All()
	if err != nil {
		t.Fatal(err)
	}
	tree := before.Tree(os.Getpid())
	if _, ok := tree[cmd.Process.Pid]; !ok {
		t.Fatalf("child %d not in the tree of %d: %v", cmd.Process.Pid, os.Getpid(), tree)
	}
	if _, ok := before.Tree(os.Getpid(), cmd.Process.Pid)[cmd.Process.Pid]; ok {
		t.Fatal("a skipped child is still in the tree")
	}
	// Wait until the child has used at least 30 ms of CPU: the kernel
	// accounts in ticks, so poll its counter rather than the clock.
	deadline := time.Now().Add(time.Minute)
	for {
		after, err := All()
		if err != nil {
			t.Fatal(err)
		}
		used := after.Tree(os.Getpid()).Since(before)["sh"]
		if used >= 30*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy child used %v of CPU in a minute", used)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := before.Named("sh"); len(got) == 0 {
		t.Fatal("Named found no sh")
	}
}

// Two readings of a 2-CPU machine 10 s apart, taken from this machine's
// /proc/stat during a benchmark: the busy fields (user … softirq) grew by
// 115 ticks, 0.12 cores, while idle, iowait and steal grew by 1,010, so the
// CPUs were busy for 990 of the 2,000 ticks: 0.99 cores.
const (
	statBefore = "cpu  2383600 51528 1035269 7102909 46123 0 229753 17706 0 0\n" +
		"cpu0 1177594 25518 494311 3551454 11749 0 112978 8629 0 0\n" +
		"cpu1 1206006 26010 540958 3551455 34374 0 116775 9077 0 0\n" +
		"intr 1 2 3\n"
	statAfter = "cpu  2383700 51528 1035279 7103909 46133 0 229758 17706 0 0\n" +
		"cpu0 1177644 25518 494316 3551954 11754 0 112980 8629 0 0\n" +
		"cpu1 1206056 26010 540963 3551955 34379 0 116778 9077 0 0\n" +
		"intr 1 2 3\n"
)

func TestMachineBusyIsWallTimeLessIdleNotTheTickedBusyFields(t *testing.T) {
	at := time.Date(2026, 12, 7, 20, 40, 0, 0, time.UTC)
	before, err := parseMachine([]byte(statBefore), at)
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMachine([]byte(statAfter), at.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if before.cpus != 2 {
		t.Fatalf("cpus = %d, want 2", before.cpus)
	}
	if got := after.BusySince(before); got < 0.989 || got > 0.991 {
		t.Fatalf("busy = %.3f cores, want 0.99 (2 CPUs × 10 s less 10.1 s idle, iowait and steal)", got)
	}
	if got := before.BusySince(after); got != 0 {
		t.Fatalf("busy over a negative interval = %v, want 0", got)
	}
	if got := after.BusySince(Machine{}); got != 0 {
		t.Fatalf("busy since a failed reading = %v, want 0", got)
	}
	for _, bad := range []string{"", "intr 1\n", "cpu  1 2 3\ncpu0 1 2 3\n", "cpu  1 2 3 x 5 6 7 8\ncpu0 1\n", "cpu0 1 2 3 4 5 6 7 8\n", "cpu  1 2 3 4 5 6 7 8\n"} {
		if _, err := parseMachine([]byte(bad), at); err == nil {
			t.Errorf("parseMachine(%q) gave no error", bad)
		}
	}
}

func TestTheMachineIsBusyAtLeastWhileThisProcessSpins(t *testing.T) {
	before := ReadMachine()
	self, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for {
		now, err := Read(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now.CPU-self.CPU >= 200*time.Millisecond {
			break
		}
	}
	after := ReadMachine()
	spun := (after.at.Sub(before.at)).Seconds()
	// This goroutine kept one CPU busy the whole time, or another process
	// did in its place; only time the hypervisor stole is not busy, hence
	// the margin.
	if got := after.BusySince(before); got < 0.5 {
		t.Fatalf("the machine was %.2f cores busy over %.2f s while this process spun on one", got, spun)
	}
}
