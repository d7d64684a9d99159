package platform

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-chat/parley/functions/notification/webpush"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/manifests"
)

var (
	stack  *devstack.Stack
	plat   *running
	traces *collector
	pushes *pushService
)

// running is the platform the tests share, with what they need to reach it.
type running struct {
	em        *emulator.Emulator
	url       string   // connector through its activator
	env       []string // the connector's environment, for extra replicas
	binDir    string
	publicURL string
	admin     user
}

func TestMain(m *testing.M) {
	// Every process exports its spans to an in-test OTLP collector.
	traces = startCollector()
	os.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", traces.srv.URL)
	os.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	os.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	os.Exit(devstacktest.Run(m, devstack.All, &stack, func() (func(), error) {
		p, stop, err := startPlatform()
		plat = p
		return stop, err
	}))
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startPlatform() (*running, func(), error) {
	binDir, err := os.MkdirTemp("", "parley-e2e-bin")
	if err != nil {
		return nil, nil, err
	}
	build := exec.Command("go", "build", "-o", binDir+"/", "./functions/auth", "./functions/persist",
		"./functions/moderation", "./functions/notification", "./functions/search", "./functions/thumbnail", "./connector", "./functions/moderation/cmd/demomodel",
		"./connector/cmd/parley-load")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("build: %w\n%s", err, out)
	}
	modelDir := filepath.Join(binDir, "model")
	if out, err := exec.Command(filepath.Join(binDir, "demomodel"), "-out", modelDir).CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("demo model: %w\n%s", err, out)
	}
	rendered, err := manifests.Render(filepath.Join(repoRoot(), "knative", "base"))
	if err != nil {
		return nil, nil, err
	}
	pushes = startPushService()
	vapidKey, err := webpush.NewVAPIDKey()
	if err != nil {
		return nil, nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	port := freePort()
	logOut := io.Discard
	if os.Getenv("E2E_VERBOSE") != "" {
		logOut = os.Stderr
	}
	pl, err := New(Config{
		Stack: stack, Manifests: rendered, ResolveImage: BinaryResolver(binDir),
		KnativeConfig: filepath.Join(repoRoot(), "knative", "deploy", "knative-config.yaml"),
		HTTPPort:      port, SigningKeys: "e2e:" + base64.RawURLEncoding.EncodeToString(seed), VAPIDKey: vapidKey,
		ModelDir: modelDir, Env: map[string]string{"METRICS_ADDR": "127.0.0.1:0"},
		ServiceEnv: map[string]map[string]string{
			// Tests send faster than people do.
			// Download URLs lapse within a test (files_test.go).
			"connector": {"WS_SEND_RATE": "1000", "WS_SEND_BURST": "1000", "WS_FRAME_RATE": "2000", "WS_FRAME_BURST": "2000",
				"FILES_DOWNLOAD_TTL": "3s"},
			"notification": {"WEBPUSH_ALLOWED_HOSTS": pushes.host()},
		},
		IdleTimeout: 10 * time.Minute, StopTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(logOut, nil)), ProcessOutput: logOut,
	})
	if err != nil {
		return nil, nil, err
	}
	em := pl.Emulator
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { em.Run(ctx); close(done) }()
	p := &running{em: em, url: pl.URL, binDir: binDir, publicURL: pl.URL}
	p.env, _ = em.ServiceEnv("parley", "connector")
	stop := func() {
		cancel()
		<-done
		os.RemoveAll(binDir)
	}
	if err := waitReady(p.url, time.Minute); err != nil {
		stop()
		return nil, nil, err
	}
	// The first account administers the installation: make it the tests' admin.
	var admin struct {
		AccessToken string              `json:"access_token"`
		User        struct{ ID string } `json:"user"`
	}
	if err := post(p.url+"/api/v1/auth/register", map[string]string{"username": "e2eadmin", "email": "admin@example.com",
		"password": "admin password"}, &admin); err != nil {
		stop()
		return nil, nil, err
	}
	p.admin = user{id: admin.User.ID, name: "e2eadmin", token: admin.AccessToken}
	return p, stop, nil
}

func post(url string, body, out any) error {
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func waitReady(url string, timeout time.Duration) error {
	return WaitReady(context.Background(), url+"/readyz", timeout)
}

// replica is an extra connector process, as a second Knative replica.
type replica struct {
	url string
	cmd *exec.Cmd
}

// startConnector runs another connector with the platform's environment
// plus extra settings.
func startConnector(t *testing.T, extra ...string) *replica {
	t.Helper()
	port := freePort()
	cmd := exec.Command(filepath.Join(plat.binDir, "connector"))
	cmd.Env = append(append(append([]string(nil), plat.env...), "PORT="+strconv.Itoa(port)), extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Getenv("E2E_VERBOSE") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{url: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	if err := waitReady(r.url, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return r
}

// processOf finds the running process of a function binary.
func processOf(name string) int {
	want := filepath.Join(plat.binDir, name)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && strings.TrimSuffix(exe, " (deleted)") == want {
			return pid
		}
	}
	return 0
}
