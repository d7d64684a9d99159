package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMakeRun runs `make run` exactly as a user does, checks the connector
// answers, exercises the running platform end to end (subtests), then
// presses Ctrl-C (SIGINT to the foreground process group) and checks that no
// process the run started is left behind.
func TestMakeRun(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	for d := state; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // the postgres user must reach its data when tests run as root
	}
	cmd := exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PARLEY_STATE_DIR="+filepath.Join(state, "state"),
		"PARLEY_HTTP_PORT=0", "PARLEY_METRICS_PORT=0", "PARLEY_CONNECTOR_METRICS_PORT=0", "PARLEY_INGRESS_PORT=0",
		"PARLEY_PG_PORT=0", "PARLEY_REDIS_PORT=0", "PARLEY_MONGO_PORT=0", "PARLEY_KAFKA_PORT=0", "PARLEY_S3_PORT=0",
		"DATABASE_URL=", "REDIS_URL=", "MONGO_URI=", "KAFKA_BROKERS=", "S3_ENDPOINT=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // like a terminal's foreground job
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The stack's own logs go to a file: a failing assertion stays readable in
	// CI's shortened output, and the warnings and errors are shown when it fails.
	stackLog, err := os.Create(filepath.Join(state, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer stackLog.Close()
	t.Cleanup(func() { showStackProblems(t, stackLog.Name()) })
	cmd.Stderr = stackLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)

	urlCh, metricsCh := make(chan string, 1), make(chan string, 1)
	scanned := make(chan struct{})
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-scanned // no t.Log after the test ends
	}()
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`Parley is running: open (\S+)`)
		metricsRe := regexp.MustCompile(`metrics: +(\S+) \(emulator\)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(stackLog, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urlCh <- m[1]
			}
			if m := metricsRe.FindStringSubmatch(sc.Text()); m != nil {
				metricsCh <- m[1]
			}
		}
	}()
	go func() { exited <- cmd.Wait() }()
	var url string
	select {
	case url = <-urlCh:
	case err := <-exited:
		t.Fatalf("make run exited before printing its URL: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatal("make run printed no URL within 5 minutes")
	}

	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("connector /healthz: %d %q", resp.StatusCode, body)
	}
	stack := &runningStack{url: url, metrics: <-metricsCh, makePID: cmd.Process.Pid}
	// The whole platform is up: exercise it as its users do.
	t.Run("auth cold start on first gRPC call", stack.testAuthColdStart)
	t.Run("accounts over REST", stack.testAccounts)
	t.Run("oauth2 client", stack.testOAuth2)
	t.Run("bad input", stack.testBadInput)
	t.Run("security headers and CORS", stack.testHeaders)
	t.Run("browser", stack.testBrowser)
	t.Run("search", stack.testSearch)
	t.Run("browser: unread, sessions, notifications", stack.testBrowserUnread)
	t.Run("browser history", stack.testBrowserHistory)
	t.Run("browser reactions", stack.testBrowserReactions)
	t.Run("browser group DMs and blocking", stack.testBrowserGroups)
	t.Run("browser threads", stack.testBrowserThreads)
	t.Run("browser files", stack.testBrowserFiles)
	t.Run("rate limit", stack.testRateLimit) // last: it exhausts this address's budget

	started := descendants(cmd.Process.Pid)
	if len(started) < 5 {
		t.Fatalf("expected make, parley-dev, postgres, redis, ferretdb and the connector, found %d processes", len(started))
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(90 * time.Second):
		t.Fatal("make run did not stop within 90s of Ctrl-C")
	}
	var stray []string
	for pid, name := range started {
		if alive(pid) {
			stray = append(stray, strconv.Itoa(pid)+" "+name)
		}
	}
	if len(stray) > 0 {
		t.Fatalf("processes left after Ctrl-C: %v", stray)
	}
}

// descendants maps every process below pid (found through /proc) to its name.
func descendants(pid int) map[int]string {
	children := map[int][]int{}
	names := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Format: pid (comm) state ppid ...; comm may contain spaces.
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
		names[p] = s[open+1 : close]
	}
	out := map[int]string{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out[p] = names[p]
		queue = append(queue, children[p]...)
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// showStackProblems prints, when the test failed, the stack's log lines at
// warning level or above (the last 40) and where the whole log is kept.
func showStackProblems(t *testing.T, path string) {
	if !t.Failed() {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Logf("the stack's log: %v", err)
		return
	}
	var problems []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) ||
			strings.Contains(line, `"severity":"ERROR"`) || strings.Contains(line, "panic:") {
			problems = append(problems, line)
		}
	}
	if len(problems) > 40 {
		problems = problems[len(problems)-40:]
	}
	t.Logf("the stack's warnings and errors (the last %d):\n%s", len(problems), strings.Join(problems, "\n"))
}
