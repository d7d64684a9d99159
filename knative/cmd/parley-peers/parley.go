package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/emulator"
	"github.com/parley-chat/parley/knative/manifests"
)

// parley is Parley in the emulator, as make run runs it but with Services
// as bare processes (no pods: the tests' setting), plus one more connector
// replica that the load reaches directly, without the activator's hop
// (Centrifugo has none either), with its per-user limits lifted: the
// publishers send faster than people. The scale scenario adds more such
// replicas (addConnector), on the same Redis, Kafka and functions.
type parley struct {
	url, metrics string // the first bench connector's
	urls         []string
	pids         []int
	metricsURLs  []string // each bench connector's /metrics
	cancel       context.CancelFunc
	done         chan struct{}
	replicas     []*exec.Cmd
	bin          string
	env          []string // a bench connector's, without its ports
}

// startParley runs the manifests of knative/base on stack, without their
// Triggers when triggers is false: then no function consumes the Broker's
// events and what remains is the fan-out (connector, Kafka append, Redis).
func startParley(ctx context.Context, stack *devstack.Stack, binDir, modelDir string, triggers bool) (_ *parley, err error) {
	rendered, err := manifests.Render(manifests.Dir("base"))
	if err != nil {
		return nil, err
	}
	if !triggers {
		if rendered, err = withoutTriggers(rendered); err != nil {
			return nil, err
		}
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	vapid := make([]byte, 32)
	rand.Read(vapid)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	publicURL := "http://127.0.0.1:" + strconv.Itoa(port)
	env := stack.Env()
	for k, v := range map[string]string{
		"PUBLIC_URL": publicURL, "JWT_ISSUER": publicURL, "METRICS_ADDR": "127.0.0.1:0",
		"JWT_SIGNING_KEYS":  "peers:" + base64.RawURLEncoding.EncodeToString(seed),
		"VAPID_PRIVATE_KEY": base64.RawURLEncoding.EncodeToString(vapid),
		"MODEL_DIR":         modelDir, "ONNXRUNTIME_LIB": os.Getenv("ONNXRUNTIME_LIB"), "LOG_LEVEL": "warn",
	} {
		env[k] = v
	}
	cfg := emulator.Config{
		Manifests: rendered, KafkaBrokers: stack.KafkaBrokers, KafkaAuth: stack.KafkaDataPlane, Env: env,
		ExtraEnv: map[string]map[string]string{"connector": stack.KafkaConnector.Env()},
		Ports:    map[string]int{"connector": port}, IdleTimeout: time.Hour, StopTimeout: 5 * time.Second,
		ResolveImage: func(image string) (string, error) { return filepath.Join(binDir, path.Base(image)), nil },
		Logger:       quiet, ProcessOutput: io.Discard,
	}
	knativeConfig, err := os.ReadFile(filepath.Join(manifests.Dir("deploy"), "knative-config.yaml"))
	if err != nil {
		return nil, err
	}
	if err := cfg.ApplyKnativeConfig(knativeConfig); err != nil {
		return nil, err
	}
	em, err := emulator.New(cfg)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p := &parley{cancel: cancel, done: make(chan struct{})}
	go func() { em.Run(runCtx); close(p.done) }()
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	if err := waitReady(ctx, publicURL+"/readyz", 2*time.Minute); err != nil {
		return nil, err
	}
	connEnv, ok := em.ServiceEnv("parley", "connector")
	if !ok {
		return nil, fmt.Errorf("no connector in %s", manifests.Dir("base"))
	}
	p.bin = filepath.Join(binDir, "connector")
	// The load's accounts hold up to 100 sockets each (idle: 10,000 over 100).
	p.env = append(connEnv, "WS_SEND_RATE=100000", "WS_SEND_BURST=100000", "WS_FRAME_RATE=100000", "WS_FRAME_BURST=100000",
		"WS_SEND_QUEUE=4096", "WS_SOCKETS_PER_USER=100000", "LOG_LEVEL=warn")
	if n := os.Getenv("PEERS_CONNECTOR_GOMAXPROCS"); n != "" {
		p.env = append(p.env, "GOMAXPROCS="+n) // the Go scheduler's share in the scale scenario's costs
	}
	metrics, err := p.addConnector(ctx)
	if err != nil {
		return nil, err
	}
	p.url, p.metrics = p.urls[0], metrics
	return p, nil
}

// addConnector starts one more bench connector and waits until it is
// ready, returning its /metrics URL.
func (p *parley) addConnector(ctx context.Context) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	metricsPort, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(p.bin)
	cmd.Env = append(slices.Clip(p.env), "PORT="+strconv.Itoa(port), "METRICS_ADDR=127.0.0.1:"+strconv.Itoa(metricsPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start a bench connector: %w", err)
	}
	p.replicas = append(p.replicas, cmd)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(ctx, url+"/readyz", time.Minute); err != nil {
		return "", err
	}
	metrics := "http://127.0.0.1:" + strconv.Itoa(metricsPort) + "/metrics"
	p.urls, p.pids, p.metricsURLs = append(p.urls, url), append(p.pids, cmd.Process.Pid), append(p.metricsURLs, metrics)
	return metrics, nil
}

func (p *parley) stop() {
	for _, r := range p.replicas {
		r.Process.Signal(syscall.SIGTERM)
		r.Wait()
	}
	p.cancel()
	<-p.done
}

// withoutTriggers drops the Trigger objects from a rendered stream.
func withoutTriggers(rendered []byte) ([]byte, error) {
	objs, err := manifests.Split(rendered)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, o := range objs {
		if o.Kind == "Trigger" {
			continue
		}
		out.WriteString("---\n") // JSON is YAML
		out.Write(o.Raw)
		out.WriteString("\n")
	}
	return out.Bytes(), nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
