// Package procstat reads the CPU time processes have used from Linux's
// /proc, so a benchmark can say where the cores went (which server, which
// store) in CPU seconds, a unit that does not depend on how busy the
// machine was. Elsewhere it finds no processes.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// ABI Go supports.
const clockTicks = 100

// Proc is one process and the CPU time (user and system) it has used.
type Proc struct {
	PID, PPID int
	Name      string // the kernel's comm: the executable's name, at most 15 bytes
	CPU       time.Duration
}

// Snapshot is the processes seen at one moment, by pid.
type Snapshot map[int]Proc

// All reads every process it may read. Processes that exit while it reads
// are skipped.
func All() (Snapshot, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("procstat: %w", err)
	}
	s := Snapshot{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := Read(pid); err == nil {
			s[pid] = p
		}
	}
	return s, nil
}

// Read reads one process.
func Read(pid int) (Proc, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, fmt.Errorf("procstat: %w", err)
	}
	// pid (comm) state ppid ... utime stime: comm may hold spaces and
	// parentheses, so it ends at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Proc{}, errors.New("procstat: unexpected /proc/pid/stat")
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return Proc{}, errors.New("procstat: short /proc/pid/stat")
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return Proc{PID: pid, PPID: ppid, Name: string(b[open+1 : end]),
		CPU: time.Duration(utime+stime) * time.Second / clockTicks}, nil
}

// Tree keeps root and its descendants, except the processes in skip and
// their descendants (a load generator started inside the tree it measures).
func (s Snapshot) Tree(root int, skip ...int) Snapshot {
	children := map[int][]int{}
	for pid, p := range s {
		children[p.PPID] = append(children[p.PPID], pid)
	}
	out := Snapshot{}
	var walk func(int)
	walk = func(pid int) {
		for _, k := range skip {
			if pid == k {
				return
			}
		}
		if p, ok := s[pid]; ok {
			out[pid] = p
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	return out
}

// Named keeps the processes with one of names.
func (s Snapshot) Named(names ...string) Snapshot {
	out := Snapshot{}
	for pid, p := range s {
		for _, n := range names {
			if p.Name == n {
				out[pid] = p
			}
		}
	}
	return out
}

// Since returns the CPU each process name used between before and s,
// summed over the processes of that name. A process new in s counts all
// its CPU. A process that exited in between counts nothing: what it used
// is lost to this measure (its parent's cutime holds it only once reaped).
func (s Snapshot) Since(before Snapshot) map[string]time.Duration {
	out := map[string]time.Duration{}
	for pid, p := range s {
		used := p.CPU
		if b, ok := before[pid]; ok && b.Name == p.Name {
			used -= b.CPU
		}
		out[p.Name] += used
	}
	return out
}

// Machine is one reading of the whole machine's CPU time.
type Machine struct {
	at   time.Time
	cpus int
	// notBusy is the time every CPU together spent idle, waiting on I/O or
	// stolen by the hypervisor, since boot.
	notBusy time.Duration
}

// ReadMachine reads /proc/stat now; the zero Machine where there is none.
func ReadMachine() Machine {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}
	}
	m, err := parseMachine(b, time.Now())
	if err != nil {
		return Machine{}
	}
	return m
}

// BusySince is how many CPUs the machine kept busy on average between
// before and m, or 0 when either reading failed.
//
// It is the wall time of every CPU less the time they were not busy, not
// the sum of /proc/stat's busy fields. Those are counted in scheduler
// ticks, and on the 2-core VM Parley's benchmarks ran on they at times
// missed most of it: 0.12 cores busy over a 30 s run in which the
// processes' own times added up to 0.9, while the idle time, which the
// kernel clocks on entering and leaving idle, stayed consistent with them.
func (m Machine) BusySince(before Machine) float64 {
	wall := m.at.Sub(before.at)
	if m.cpus == 0 || before.cpus != m.cpus || wall <= 0 {
		return 0
	}
	busy := time.Duration(m.cpus)*wall - (m.notBusy - before.notBusy)
	return max(busy.Seconds()/wall.Seconds(), 0)
}

// parseMachine reads /proc/stat's text: the "cpu" line's idle, iowait and
// steal (fields 4, 5 and 8), and one "cpuN" line per CPU.
func parseMachine(b []byte, at time.Time) (Machine, error) {
	m := Machine{at: at}
	total := false
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")) {
			continue
		}
		if len(f[0]) > 3 {
			m.cpus++
			continue
		}
		if len(f) < 9 {
			return Machine{}, errors.New("procstat: /proc/stat's cpu line has fewer than 8 fields")
		}
		total = true
		for _, i := range []int{4, 5, 8} {
			n, err := strconv.ParseInt(string(f[i]), 10, 64)
			if err != nil {
				return Machine{}, fmt.Errorf("procstat: /proc/stat's cpu line: %w", err)
			}
			m.notBusy += time.Duration(n) * time.Second / clockTicks
		}
	}
	if !total || m.cpus == 0 {
		return Machine{}, errors.New("procstat: /proc/stat lacks the cpu line or the per-CPU lines")
	}
	return m, nil
}
