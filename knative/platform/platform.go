package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/emulator"
)

// Config says how to run Parley: what make run (knative/cmd/parley-dev)
// and the platform tests set differently. The rest, how the services are
// wired to the stores, the broker and each other, is New's.
type Config struct {
	// Stack is the infrastructure the services use (devstack.Up).
	Stack *devstack.Stack
	// Manifests is the rendered kustomize folder to run (knative/base,
	// manifests.Render).
	Manifests []byte
	// KnativeConfig is the file of Knative's settings, as make deploy
	// applies them (knative/deploy/knative-config.yaml).
	KnativeConfig string
	// ResolveImage maps a manifest's image to a binary (BinaryResolver).
	ResolveImage func(image string) (string, error)
	// HTTPPort is the connector's public port on 127.0.0.1.
	HTTPPort int
	// SigningKeys is auth's JWT_SIGNING_KEYS; VAPIDKey notification's
	// VAPID_PRIVATE_KEY.
	SigningKeys, VAPIDKey string
	// ModelDir is moderation's model folder; empty leaves MODEL_DIR unset.
	ModelDir string
	// Env is added to every service's environment (the emulator gives each
	// only the variables its manifest names).
	Env map[string]string
	// ServiceEnv is added to one service's environment, by name; the
	// connector's also gets its Kafka login, which the base manifests
	// leave to the cluster.
	ServiceEnv map[string]map[string]string
	// The emulator's settings of the same names.
	IngressPort              int
	IdleTimeout, StopTimeout time.Duration
	QueueProxy               string
	Publish                  map[string]map[int]int
	Logger                   *slog.Logger
	ProcessOutput            io.Writer
	Registry                 prometheus.Registerer
}

// Platform is Parley in the emulator, ready to Run.
type Platform struct {
	*emulator.Emulator
	// URL is the connector's public URL.
	URL string
}

// New sets up the emulator to run the manifests with Knative's settings
// as make deploy sets them (OIDC sender authentication, deny-all, where new
// Triggers start).
func New(cfg Config) (*Platform, error) {
	publicURL := "http://127.0.0.1:" + strconv.Itoa(cfg.HTTPPort)
	env := cfg.Stack.Env()
	for k, v := range cfg.Env {
		env[k] = v
	}
	env["PUBLIC_URL"] = publicURL
	env["JWT_ISSUER"] = publicURL
	env["JWT_SIGNING_KEYS"] = cfg.SigningKeys
	env["VAPID_PRIVATE_KEY"] = cfg.VAPIDKey
	if cfg.ModelDir != "" {
		env["MODEL_DIR"] = cfg.ModelDir
	}
	env["ONNXRUNTIME_LIB"] = os.Getenv("ONNXRUNTIME_LIB")
	extra := map[string]map[string]string{"connector": cfg.Stack.KafkaConnector.Env()}
	for svc, vars := range cfg.ServiceEnv {
		if extra[svc] == nil {
			extra[svc] = map[string]string{}
		}
		for k, v := range vars {
			extra[svc][k] = v
		}
	}
	ecfg := emulator.Config{
		Manifests: cfg.Manifests, ResolveImage: cfg.ResolveImage,
		KafkaBrokers: cfg.Stack.KafkaBrokers, KafkaAuth: cfg.Stack.KafkaDataPlane,
		Env: env, ExtraEnv: extra, Ports: map[string]int{"connector": cfg.HTTPPort}, IngressPort: cfg.IngressPort,
		IdleTimeout: cfg.IdleTimeout, StopTimeout: cfg.StopTimeout, QueueProxy: cfg.QueueProxy, Publish: cfg.Publish,
		Logger: cfg.Logger, ProcessOutput: cfg.ProcessOutput, Registry: cfg.Registry,
	}
	knativeConfig, err := os.ReadFile(cfg.KnativeConfig)
	if err == nil {
		err = ecfg.ApplyKnativeConfig(knativeConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("platform: Knative's settings (%s): %w", cfg.KnativeConfig, err)
	}
	em, err := emulator.New(ecfg)
	if err != nil {
		return nil, err
	}
	return &Platform{Emulator: em, URL: publicURL}, nil
}

// ModulePath prefixes the ko:// images of Parley's own services.
const ModulePath = "github.com/parley-chat/parley/"

// BinaryResolver maps ko://<module>/<path> images to <binDir>/<last path
// element>, where `make build` (or a test's build) puts them.
func BinaryResolver(binDir string) func(string) (string, error) {
	return func(image string) (string, error) {
		pkg, ok := strings.CutPrefix(image, "ko://"+ModulePath)
		if !ok {
			return "", fmt.Errorf("only ko://%s… images run locally", ModulePath)
		}
		bin, err := filepath.Abs(filepath.Join(binDir, path.Base(pkg)))
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%w (run make build)", err)
		}
		return bin, nil
	}
}

// WaitReady polls url until it answers 200, for at most timeout.
func WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", url, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
