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
