package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

type revState int

const (
	stopped revState = iota
	starting
	ready
	stopping
)

// revision runs one Knative Service as at most one local process and
// implements scale from and to zero for it. All fields below mu are guarded by it.
type revision struct {
	spec ServiceSpec
	bin  string
	env  []string
	em   *Emulator

	mu       sync.Mutex
	state    revState
	proc     *process
	changed  chan struct{} // closed when a start or stop finishes
	startErr error         // why the last start failed; nil after a success
	failedAt time.Time
	inflight int
	lastUsed time.Time
}

type process struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{}
	tail   *tailBuffer
}

// errStartFailed wraps every start failure, so callers can answer 503.
var errStartFailed = errors.New("service failed to start")

// acquire returns a ready process, starting one if needed, and a release
// func to call when the request is done.
func (r *revision) acquire(ctx context.Context) (*process, func(), error) {
	r.mu.Lock()
	for {
		switch r.state {
		case ready:
			r.inflight++
			p := r.proc
			r.mu.Unlock()
			return p, r.release, nil
		case stopped:
			// Do not hammer a service that cannot start: fail fast until the backoff passes.
			if r.startErr != nil && time.Since(r.failedAt) < r.em.cfg.CrashBackoff {
				err := r.startErr
				r.mu.Unlock()
				return nil, nil, err
			}
			r.state = starting
			r.startErr = nil
			r.changed = make(chan struct{})
			go r.start()
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("waiting for %s to start: %w", r.spec.Name, ctx.Err())
		}
		r.mu.Lock()
		if r.state == stopped && r.startErr != nil {
			err := r.startErr
			r.mu.Unlock()
			return nil, nil, err
		}
	}
}

func (r *revision) release() {
	r.mu.Lock()
	r.inflight--
	r.lastUsed = time.Now()
	r.mu.Unlock()
}

// start launches the process and waits for readiness. It runs without the
// lock and publishes its outcome under it.
func (r *revision) start() {
	begin := time.Now()
	p, err := r.launch()
	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(r.changed)
	if err != nil {
		r.state = stopped
		r.startErr = fmt.Errorf("%w: %s: %v", errStartFailed, r.spec.Name, err)
		r.failedAt = time.Now()
		r.em.log.Error("service failed to start", "ksvc", r.spec.Name, "error", err)
		r.em.metrics.startFailures.WithLabelValues(r.spec.Name).Inc()
		return
	}
	d := time.Since(begin)
	r.state = ready
	r.proc = p
	r.lastUsed = time.Now()
	r.em.metrics.coldStarts.WithLabelValues(r.spec.Name).Inc()
	r.em.metrics.coldStartSeconds.WithLabelValues(r.spec.Name).Observe(d.Seconds())
	r.em.log.Info("cold start", "ksvc", r.spec.Name, "duration_ms", float64(d.Microseconds())/1000, "addr", p.addr)
	go r.watch(p)
}

func (r *revision) launch() (*process, error) {
	port, err := freePort(r.em.cfg.Host)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(r.em.cfg.Host, strconv.Itoa(port))
	cmd := exec.Command(r.bin)
	cmd.Env = append(append([]string(nil), r.env...), "PORT="+strconv.Itoa(port))
	tail := &tailBuffer{max: 4096}
	out := io.MultiWriter(r.em.cfg.ProcessOutput, tail)
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group so a stop reaches helpers the function spawned, and
	// a parent death signal so an emulator crash leaves no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", r.bin, err)
	}
	p := &process{cmd: cmd, addr: addr, exited: make(chan struct{}), tail: tail}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	if err := r.waitReady(p); err != nil {
		terminate(p, 0)
		return nil, err
	}
	return p, nil
}

// waitReady polls the readiness probe (or the TCP port) quickly at first:
// most of a cold start is the process binding its port.
func (r *revision) waitReady(p *process) error {
	deadline := time.NewTimer(r.em.cfg.StartTimeout)
	defer deadline.Stop()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	interval := time.Millisecond
	for {
		if r.probe(client, p.addr) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited during start (%s); last output: %s", p.cmd.ProcessState, p.tail.String())
		case <-deadline.C:
			return fmt.Errorf("not ready after %s; last output: %s", r.em.cfg.StartTimeout, p.tail.String())
		case <-time.After(interval):
		}
		interval = min(interval*2, 20*time.Millisecond)
	}
}

func (r *revision) probe(client *http.Client, addr string) bool {
	if r.spec.ReadinessPath == "" {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	resp, err := client.Get("http://" + addr + r.spec.ReadinessPath)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// watch notices a process that exits while serving.
func (r *revision) watch(p *process) {
	<-p.exited
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != p {
		return
	}
	r.proc = nil
	if r.state == ready {
		r.state = stopped
		r.em.log.Warn("service exited unexpectedly", "ksvc", r.spec.Name,
			"status", p.cmd.ProcessState.String(), "last_output", p.tail.String())
		r.em.metrics.crashes.WithLabelValues(r.spec.Name).Inc()
	}
}

// scaleToZero stops the process if it has been idle for at least idle.
func (r *revision) scaleToZero(idle time.Duration) {
	r.mu.Lock()
	if r.state != ready || r.inflight > 0 || time.Since(r.lastUsed) < idle {
		r.mu.Unlock()
		return
	}
	r.em.log.Info("scaling to zero", "ksvc", r.spec.Name, "idle", time.Since(r.lastUsed).Round(time.Millisecond).String())
	r.stopLocked()
}

// stop terminates the process whatever its load; used at shutdown.
func (r *revision) stop() {
	r.mu.Lock()
	for r.state == starting || r.state == stopping {
		ch := r.changed
		r.mu.Unlock()
		<-ch
		r.mu.Lock()
	}
	if r.state != ready {
		r.mu.Unlock()
		return
	}
	r.stopLocked()
}

// stopLocked is called with mu held in state ready and returns with it released.
func (r *revision) stopLocked() {
	p := r.proc
	r.state = stopping
	r.changed = make(chan struct{})
	r.mu.Unlock()
	terminate(p, r.em.cfg.StopTimeout)
	r.mu.Lock()
	r.state = stopped
	r.proc = nil
	close(r.changed)
	r.mu.Unlock()
	r.em.metrics.scaleDowns.WithLabelValues(r.spec.Name).Inc()
}

// keepWarm holds a min-scale service at one running process, restarting it
// with backoff when it fails, until ctx ends.
func (r *revision) keepWarm(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		exited, err := r.warm(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.em.log.Warn("min-scale service not running; retrying", "ksvc", r.spec.Name, "retry_in", backoff.String(), "error", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case <-exited:
		case <-ctx.Done():
			return
		}
	}
}

func (r *revision) warm(ctx context.Context) (<-chan struct{}, error) {
	p, release, err := r.acquire(ctx)
	if err != nil {
		return nil, err
	}
	release()
	return p.exited, nil
}

// terminate sends SIGTERM to the process group, then SIGKILL after grace.
func terminate(p *process, grace time.Duration) {
	pgid := p.cmd.Process.Pid
	if grace > 0 {
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.exited:
			return
		case <-time.After(grace):
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for start-failure messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
