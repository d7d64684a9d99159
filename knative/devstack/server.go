package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// server is a child process this package started and must stop.
type server struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	// stopSignal asks for a clean, fast shutdown (PostgreSQL: SIGINT).
	stopSignal syscall.Signal
	log        *os.File
	// settleAfterStop, when set, bounds the wait after stopSignal for a
	// server whose own shutdown stores everything at once and then hangs
	// (SeaweedFS): it is then killed, and that is not an error.
	settleAfterStop time.Duration
}

// startServer runs cmd in its own process group (so a terminal's Ctrl-C
// reaches the launcher, which stops servers in order) with a parent-death
// signal so nothing outlives a crashed launcher. Output goes to logPath.
func startServer(name string, cmd *exec.Cmd, stopSignal syscall.Signal, logPath string) (*server, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devstack: %s log: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("devstack: start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, exited: make(chan struct{}), stopSignal: stopSignal, log: logFile}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *server) stop(grace time.Duration) error {
	defer s.log.Close()
	select {
	case <-s.exited:
		return nil
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, s.stopSignal)
	if s.settleAfterStop > 0 {
		grace = min(grace, s.settleAfterStop)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(grace):
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	if s.settleAfterStop > 0 {
		return nil
	}
	return fmt.Errorf("devstack: %s did not stop within %s and was killed", s.name, grace)
}

// errExitedDuringStart is a server that stopped before it was ready.
var errExitedDuringStart = errors.New("exited during start")

// waitFor polls check until it succeeds, the server exits, or timeout.
func (s *server) waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		// Each check gets a short deadline of its own: one that hangs (a
		// port answered by something else) must not hide that the server
		// has exited.
		checkCtx, cancelCheck := context.WithTimeout(ctx, 10*time.Second)
		last = check(checkCtx)
		cancelCheck()
		if last == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("devstack: %s %w (%s): %s; see %s", s.name, errExitedDuringStart, s.cmd.ProcessState,
				lastLine(s.log.Name()), s.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("devstack: %s not ready after %s: %w; see %s", s.name, timeout, last, s.log.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lastLine is the line of a server's log that says why it stopped: a
// fatal one (glog's F…, a panic, FATAL), else the last.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pick := lines[len(lines)-1]
	for _, l := range lines {
		if fatalLine.MatchString(l) {
			pick = l
			break
		}
	}
	if len(pick) > 300 {
		pick = pick[:300]
	}
	return strings.TrimSpace(pick)
}

var fatalLine = regexp.MustCompile(`^(F\d{4} |panic: |.*FATAL)`)

// secret returns the password stored at path, generating it on first use.
func secret(path string) (string, error) {
	return LoadOrCreateSecret(path, func() string {
		buf := make([]byte, 18)
		rand.Read(buf)
		return hex.EncodeToString(buf)
	})
}

// LoadOrCreateSecret returns the secret stored at path, or stores a new one
// from generate (mode 0600) on first use.
func LoadOrCreateSecret(path string, generate func() string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	v := generate()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("devstack: store secret: %w", err)
	}
	return v, nil
}

// pickPort turns -1 into a free port and checks a fixed one is free.
// onFreePort starts a server with run on the port the configuration asks
// for (see defaultPort) and keeps it for Close. A random port can be taken
// between being picked and being bound (by another stack starting at the
// same moment, or as some client's ephemeral port), so a server given one
// that exits during start is tried again on another, up to three times.
func (s *Stack) onFreePort(name string, configured, def int, run func(port int) (*server, error)) (int, error) {
	for attempt := 1; ; attempt++ {
		port, err := pickPort(name, defaultPort(configured, def))
		if err != nil {
			return 0, err
		}
		srv, err := run(port)
		if err == nil {
			s.servers = append(s.servers, srv)
			return port, nil
		}
		if srv != nil {
			srv.stop(10 * time.Second)
		}
		if configured >= 0 || attempt == 3 || !errors.Is(err, errExitedDuringStart) {
			return 0, err
		}
		s.log.Warn(name+" did not start; retrying on another port", "error", err)
	}
}

// randomPort returns a port free at the moment (tests replace it).
var randomPort = func() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func pickPort(name string, port int) (int, error) {
	if port < 0 {
		return randomPort()
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, fmt.Errorf("devstack: %s port %d is taken (%w): free it, pick another port, or point Parley at your own server with its URL env var", name, port, err)
	}
	ln.Close()
	return port, nil
}

// findBinary looks a server binary up on PATH and in extra folders, and
// installs pkg with apt-get when allowed.
func findBinary(name, pkg string, install bool, extra ...string) (string, error) {
	lookup := func() string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, pattern := range extra {
			matches, _ := filepath.Glob(pattern)
			if len(matches) > 0 {
				return matches[len(matches)-1] // the highest version sorts last
			}
		}
		return ""
	}
	if p := lookup(); p != "" {
		return p, nil
	}
	if install && os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			cmd := exec.Command("apt-get", "install", "-y", "-q", pkg)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("devstack: apt-get install %s failed: %w\n%s", pkg, err, out)
			}
			if p := lookup(); p != "" {
				return p, nil
			}
		}
	}
	return "", errors.New("devstack: " + name + " not found: install the " + pkg + " package (apt-get install " + pkg + ") or set the URL env var to use an existing server")
}
