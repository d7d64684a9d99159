package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A pod is what Knative makes of a revision: the user container and
// queue-proxy in a network namespace of their own, so queue-proxy's fixed
// ports (8012, 8013, 8022, 9090) are reserved exactly as on a cluster and
// every request passes through it. The namespace has only loopback: the
// emulator reaches queue-proxy by opening its sockets inside the namespace,
// and the pod reaches the stores, the activators and the Broker ingress on
// the host's loopback through forwarders listening on the same loopback
// ports inside the namespace, so no address handed to a service changes.

// Knative's queue-proxy ports (serving pkg/networking/constants.go).
const (
	queueHTTPPort  = 8012
	queueH2CPort   = 8013
	queueTLSPort   = 8112
	queueAdminPort = 8022
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// podNetPrefix names the emulator's namespaces: parley-emu-<pid>-<n>, so a
// later run can tell which ones a dead emulator left behind.
const podNetPrefix = "parley-emu-"

// PodsSupported reports whether this process can run Services as pods
// (root, iproute2, and a kernel or sandbox that lets it create a network
// namespace), and why not.
var PodsSupported = sync.OnceValue(func() error {
	if os.Geteuid() != 0 {
		return errors.New("not running as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("iproute2's ip is not installed")
	}
	n, err := newPodNet(fmt.Sprintf("%s%d-probe", podNetPrefix, os.Getpid()))
	if err != nil {
		return err
	}
	return n.close()
})

// removeStalePodNets deletes namespaces left by emulators that are no longer
// running (a crash or SIGKILL skips their cleanup). Their processes died
// with the emulator (parent death signal); only the namespace mounts remain.
func removeStalePodNets(log *slog.Logger) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no namespaces at all
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), podNetPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
			log.Warn("removing a stale pod network namespace", "netns", e.Name(), "error", err, "output", string(out))
			continue
		}
		log.Info("removed a stale pod network namespace", "netns", e.Name())
	}
}

// podNet is one pod's network namespace and the forwarders in it.
type podNet struct {
	name string
	ns   *os.File // the namespace, held open to enter it

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newPodNet(name string) (*podNet, error) {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("create network namespace %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &podNet{name: name, conns: map[net.Conn]struct{}{}}
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		n.close()
		return nil, fmt.Errorf("bring up loopback in %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	var err error
	if n.ns, err = os.Open(filepath.Join(netnsDir, name)); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// hostNet is the emulator's own network namespace, to return to.
var hostNet = sync.OnceValues(func() (*os.File, error) { return os.Open("/proc/self/ns/net") })

// inside runs fn on an OS thread that has entered the namespace, so the
// sockets fn creates belong to it, then moves the thread back. A thread that
// cannot move back ends with its goroutine instead of rejoining the
// scheduler. Threads must not end otherwise: a child process started from
// one would get its parent death signal.
func (n *podNet) inside(fn func() error) error {
	host, err := hostNet()
	if err != nil {
		return fmt.Errorf("open the emulator's network namespace: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(n.ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", n.name, err)
			return
		}
		err := fn()
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// dial connects to addr (host:port, on the pod's loopback) from inside the pod.
func (n *podNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.inside(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// forward makes host loopback port on the host reachable as the same port
// on the pod's loopback. Go's TCP-to-TCP copy uses splice(2), so the bytes
// stay in the kernel.
func (n *podNet) forward(port int) error {
	var ln net.Listener
	err := n.inside(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		return err
	})
	if err != nil {
		return fmt.Errorf("forward port %d into the pod: %w", port, err)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return errors.New("pod network closed")
	}
	n.lns = append(n.lns, ln)
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by close()
			}
			n.wg.Add(1)
			go func() { defer n.wg.Done(); n.pipe(c, port) }()
		}
	}()
	return nil
}

func (n *podNet) pipe(in net.Conn, port int) {
	out, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		in.Close()
		return
	}
	if !n.track(in, out) {
		return
	}
	defer n.untrack(in, out)
	done := make(chan struct{})
	go func() {
		io.Copy(out, in)
		out.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(in, out)
	in.(*net.TCPConn).CloseWrite()
	<-done
}

func (n *podNet) track(cs ...net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		n.conns[c] = struct{}{}
	}
	return true
}

func (n *podNet) untrack(cs ...net.Conn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(n.conns, c)
	}
}

// close stops the forwarders and deletes the namespace; the pod's
// processes must have exited.
func (n *podNet) close() error {
	n.mu.Lock()
	n.closed = true
	for _, ln := range n.lns {
		ln.Close()
	}
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	if n.ns != nil {
		n.ns.Close()
	}
	if out, err := exec.Command("ip", "netns", "delete", n.name).CombinedOutput(); err != nil {
		return fmt.Errorf("delete network namespace %s: %v: %s", n.name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// loopbackPort finds host loopback addresses in a service's environment,
// which its pod must reach through forwarders.
var loopbackPort = regexp.MustCompile(`(?:127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})\b`)

// hostPorts lists the loopback ports named in env, without the pod's own.
func hostPorts(env []string, own map[int]bool) []int {
	seen := map[int]bool{}
	var ports []int
	for _, kv := range env {
		for _, m := range loopbackPort.FindAllStringSubmatch(kv, -1) {
			p, err := strconv.Atoi(m[1])
			if err != nil || p == 0 || p > 65535 || seen[p] || own[p] {
				continue
			}
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// queueEnv is the environment Knative's revision reconciler gives
// queue-proxy (serving pkg/reconciler/revision/resources/queue.go), for a
// pod whose only address is loopback. TLS, profiling and observability
// stay at Knative's defaults (off, no certificates mounted).
func queueEnv(s ServiceSpec, pod string) ([]string, error) {
	probe, err := readinessProbeJSON(s)
	if err != nil {
		return nil, err
	}
	return []string{
		"SERVING_NAMESPACE=" + s.Namespace,
		"SERVING_SERVICE=" + s.Name,
		"SERVING_CONFIGURATION=" + s.Name,
		"SERVING_REVISION=" + s.Name + "-00001",
		"QUEUE_SERVING_PORT=" + strconv.Itoa(s.queuePort()),
		"QUEUE_SERVING_TLS_PORT=" + strconv.Itoa(queueTLSPort),
		"CONTAINER_CONCURRENCY=" + strconv.Itoa(s.ContainerConcurrency),
		"REVISION_TIMEOUT_SECONDS=" + strconv.Itoa(int(s.Timeout.Seconds())),
		"REVISION_RESPONSE_START_TIMEOUT_SECONDS=" + strconv.Itoa(int(s.ResponseStartTimeout.Seconds())),
		"REVISION_IDLE_TIMEOUT_SECONDS=" + strconv.Itoa(int(s.IdleTimeout.Seconds())),
		"SERVING_POD=" + pod,
		"SERVING_POD_IP=127.0.0.1",
		"SERVING_LOGGING_CONFIG=",
		"SERVING_LOGGING_LEVEL=",
		"USER_PORT=" + strconv.Itoa(s.Port),
		"SYSTEM_NAMESPACE=knative-serving",
		"SERVING_READINESS_PROBE=" + probe,
		"HOST_IP=127.0.0.1",
		"ENABLE_HTTP2_AUTO_DETECTION=false",
		"ENABLE_HTTP_FULL_DUPLEX=false",
		"ENABLE_MULTI_CONTAINER_PROBES=false",
	}, nil
}

// readinessProbeJSON encodes the user container's readiness probe as the
// reconciler does: aimed at the user port on loopback; without one, the
// TCP probe Knative's defaulting adds.
func readinessProbeJSON(s ServiceSpec) (string, error) {
	type port struct {
		Port int    `json:"port"`
		Host string `json:"host"`
	}
	probe := map[string]any{"successThreshold": 1}
	if s.ReadinessPath != "" {
		probe["httpGet"] = map[string]any{"path": s.ReadinessPath, "port": s.Port, "host": "127.0.0.1", "scheme": "HTTP"}
	} else {
		probe["tcpSocket"] = port{Port: s.Port, Host: "127.0.0.1"}
	}
	b, err := json.Marshal(probe)
	return string(b), err
}

// queuePort is where queue-proxy serves the revision: 8013 for h2c ports,
// as the reconciler chooses.
func (s ServiceSpec) queuePort() int {
	if s.H2C {
		return queueH2CPort
	}
	return queueHTTPPort
}

// reservedPorts are the ports queue-proxy may bind in every pod (serving
// pkg/networking/constants.go); the pod cannot reach host ports with these
// numbers, as a pod on a cluster cannot.
var reservedPorts = []int{8008, queueHTTPPort, queueH2CPort, queueAdminPort, queueTLSPort, 9090, 9091}

// dial connects to host:port, where a host naming a running pod means
// that port on the pod's loopback.
func (em *Emulator) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if pn, ok := em.pods.Load(host); ok {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return pn.(*podNet).dial(ctx, net.JoinHostPort("127.0.0.1", port))
	}
	return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
}

// publishedPort is a host listener for one port of a service's pods.
type publishedPort struct {
	ln      net.Listener
	rev     *revision
	podPort int
}

func (em *Emulator) publishPorts() error {
	for name, ports := range em.cfg.Publish {
		var rev *revision
		for _, r := range em.revisions {
			if r.spec.Name == name {
				rev = r
			}
		}
		if rev == nil {
			return fmt.Errorf("emulator: Publish names service %s, which the manifests do not have", name)
		}
		for podPort, hostPort := range ports {
			ln, err := em.listen("published port of "+name, hostPort)
			if err != nil {
				return err
			}
			em.publishLns = append(em.publishLns, publishedPort{ln: ln, rev: rev, podPort: podPort})
		}
	}
	return nil
}

// servePublished pipes each connection to the service's running pod (it
// does not start one) until the listener is closed.
func (em *Emulator) servePublished(p publishedPort) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			p.rev.mu.Lock()
			proc := p.rev.proc
			p.rev.mu.Unlock()
			if proc == nil || proc.net == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			up, err := proc.net.dial(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.podPort)))
			cancel()
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
			io.Copy(c, up)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}
