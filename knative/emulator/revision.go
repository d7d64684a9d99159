package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	drained  chan struct{} // while stopping with requests in flight: closed when the last ends
	lastUsed time.Time
	// hostPorts are the host loopback ports the pod forwards (see pod.go).
	hostPorts []int
}

type process struct {
	cmd    *exec.Cmd
	addr   string // where the activator sends requests: host:port, or <netns>:<queue-proxy port>
	exited chan struct{}
	tail   *tailBuffer
	// In a pod: queue-proxy beside the user container, and their namespace.
	queue *process
	net   *podNet
	down  chan struct{} // closed when any of the pod's processes exits
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
	if r.inflight == 0 && r.drained != nil {
		close(r.drained)
		r.drained = nil
	}
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
	if r.em.queueBin != "" {
		return r.launchPod()
	}
	port, err := freePort(r.em.cfg.Host)
	if err != nil {
		return nil, err
	}
	p, err := r.exec(nil, r.bin, append(append([]string(nil), r.env...), "PORT="+strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	p.addr = net.JoinHostPort(r.em.cfg.Host, strconv.Itoa(port))
	p.down = p.exited
	if err := r.waitReady(p); err != nil {
		r.terminate(p, 0)
		return nil, err
	}
	return p, nil
}

// launchPod starts the revision as a pod: a fresh network namespace, the
// user container on its containerPort, and queue-proxy in front of it.
func (r *revision) launchPod() (*process, error) {
	name := fmt.Sprintf("%s%d-%d", podNetPrefix, os.Getpid(), r.em.podSeq.Add(1))
	pn, err := newPodNet(name)
	if err != nil {
		return nil, err
	}
	for _, port := range r.hostPorts {
		if err := pn.forward(port); err != nil {
			pn.close()
			return nil, err
		}
	}
	p, err := r.exec(pn, r.bin, append(append([]string(nil), r.env...), "PORT="+strconv.Itoa(r.spec.Port)))
	if err != nil {
		pn.close()
		return nil, err
	}
	p.net = pn
	p.addr = net.JoinHostPort(name, strconv.Itoa(r.spec.queuePort()))
	p.down = make(chan struct{})
	r.em.pods.Store(name, pn)
	qenv, err := queueEnv(r.spec, name)
	if err == nil {
		p.queue, err = r.exec(pn, r.em.queueBin, qenv)
	}
	if err != nil {
		r.terminate(p, 0)
		return nil, err
	}
	go func() {
		select {
		case <-p.exited:
		case <-p.queue.exited:
		}
		close(p.down)
	}()
	if err := r.waitReady(p); err != nil {
		r.terminate(p, 0)
		return nil, err
	}
	return p, nil
}

// exec starts bin with env, inside pod's namespace when pod is not nil.
func (r *revision) exec(pod *podNet, bin string, env []string) (*process, error) {
	cmd := exec.Command(bin)
	if pod != nil {
		cmd = exec.Command("ip", "netns", "exec", pod.name, bin)
	}
	cmd.Env = env
	tail := &tailBuffer{max: 4096}
	out := io.MultiWriter(r.em.cfg.ProcessOutput, tail)
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group so a stop reaches helpers the function spawned, and
	// a parent death signal so an emulator crash leaves no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", bin, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{}), tail: tail}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls the readiness probe (or the TCP port) quickly at first:
// most of a cold start is the process binding its port.
func (r *revision) waitReady(p *process) error {
	deadline := time.NewTimer(r.em.cfg.StartTimeout)
	defer deadline.Stop()
	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: newH1Transport(r.em.dial)}
	defer client.CloseIdleConnections()
	interval := time.Millisecond
	var queueExited <-chan struct{}
	if p.queue != nil {
		queueExited = p.queue.exited
	}
	for {
		if r.probe(client, p) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited during start (%s); last output: %s", p.cmd.ProcessState, p.tail.String())
		case <-queueExited:
			return fmt.Errorf("queue-proxy exited during start (%s); last output: %s; the service's own output: %s",
				p.queue.cmd.ProcessState, p.queue.tail.String(), p.tail.String())
		case <-deadline.C:
			return fmt.Errorf("not ready after %s; last output: %s", r.em.cfg.StartTimeout, p.tail.String())
		case <-time.After(interval):
		}
		interval = min(interval*2, 20*time.Millisecond)
	}
}

func (r *revision) probe(client *http.Client, p *process) bool {
	addr := p.addr
	if p.queue != nil {
		// As Knative's activator probes a pod: queue-proxy answers "queue"
		// once its own probe of the user container passes.
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			return false
		}
		req.Header.Set("K-Network-Probe", "queue")
		req.Header.Set("User-Agent", "Knative-Activator-Probe")
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && string(body) == "queue"
	}
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
	<-p.down
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
		// The rest of the pod goes too, as a failed pod is replaced whole.
		go r.terminate(p, 0)
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
	var drained chan struct{}
	if r.inflight > 0 {
		drained = make(chan struct{})
		r.drained = drained
	}
	r.mu.Unlock()
	r.drainAndTerminate(p, drained, r.em.cfg.StopTimeout)
	r.mu.Lock()
	r.drained = nil
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
	return p.down, nil
}

// drainAndTerminate stops a process or pod that no longer gets new
// requests. A pod stops as Kubernetes deletes one: queue-proxy gets SIGTERM
// at once and keeps serving what is in flight; the user container gets
// SIGTERM once those requests end (where its preStop hook, queue-proxy's
// /wait-for-drain, would return); SIGKILL ends whatever is left at the grace
// period. drained is closed when the last in-flight request ends (nil: none).
func (r *revision) drainAndTerminate(p *process, drained <-chan struct{}, grace time.Duration) {
	if p.queue == nil {
		r.terminate(p, grace)
		return
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	signal(p.queue, syscall.SIGTERM)
	if drained != nil {
		select {
		case <-drained:
		case <-deadline.C:
			r.terminate(p, 0)
			return
		}
	}
	signal(p, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-deadline.C:
	}
	// queue-proxy sleeps 30 s after SIGTERM for load balancers to forget
	// the pod; with nothing in flight and nobody routing to it, that wait
	// has nothing to protect here.
	r.terminate(p, 0)
}

// terminate sends SIGTERM to the process group (or the pod's), then SIGKILL
// after grace, and removes a pod's namespace.
func (r *revision) terminate(p *process, grace time.Duration) {
	procs := []*process{p}
	if p.queue != nil {
		procs = append(procs, p.queue)
	}
	if grace > 0 {
		for _, q := range procs {
			signal(q, syscall.SIGTERM)
		}
		timeout := time.After(grace)
	wait:
		for _, q := range procs {
			select {
			case <-q.exited:
			case <-timeout:
				break wait
			}
		}
	}
	for _, q := range procs {
		signal(q, syscall.SIGKILL)
		<-q.exited
	}
	if p.net != nil {
		r.em.pods.Delete(p.net.name)
		if err := p.net.close(); err != nil {
			r.em.log.Warn("pod network cleanup", "ksvc", r.spec.Name, "error", err)
		}
	}
}

func signal(p *process, sig syscall.Signal) {
	syscall.Kill(-p.cmd.Process.Pid, sig)
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
