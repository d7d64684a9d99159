package devstack

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is where files live: an S3-compatible object store and Parley's login
// to it. Services get it as S3_* variables (Env).
type S3 struct {
	// Endpoint is the store's base URL, http://127.0.0.1:port locally.
	Endpoint string
	// PublicURL is where browsers reach the same store (presigned URLs are
	// signed for this host); locally the same as Endpoint.
	PublicURL            string
	AccessKey, SecretKey string
	Bucket, Region       string
}

// Env are the S3_* variables of s, empty when there is no store: the
// manifests name them (from a Secret), so they are always given, and an
// empty S3_ENDPOINT turns files off.
func (s S3) Env() map[string]string {
	return map[string]string{
		"S3_ENDPOINT": s.Endpoint, "S3_PUBLIC_URL": s.PublicURL, "S3_BUCKET": s.Bucket, "S3_REGION": s.Region,
		"S3_ACCESS_KEY_ID": s.AccessKey, "S3_SECRET_ACCESS_KEY": s.SecretKey,
	}
}

// Client returns an S3 client for the store, for setup and tests.
func (s S3) Client() (*minio.Client, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("devstack: S3 endpoint: %w", err)
	}
	return minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: u.Scheme == "https", Region: s.Region, BucketLookup: minio.BucketLookupPath})
}

// S3 defaults of the local store.
const (
	DefaultS3Bucket = "parley-files"
	DefaultS3Region = "us-east-1"
)

// s3FromEnv is a store of your own: S3_ENDPOINT and its login.
func s3FromEnv(getenv func(string) string) (S3, error) {
	s := S3{Endpoint: getenv("S3_ENDPOINT"), PublicURL: getenv("S3_PUBLIC_URL"), Bucket: getenv("S3_BUCKET"),
		Region: getenv("S3_REGION"), AccessKey: getenv("S3_ACCESS_KEY_ID"), SecretKey: getenv("S3_SECRET_ACCESS_KEY")}
	if s.AccessKey == "" || s.SecretKey == "" {
		return s, errors.New("devstack: S3_ENDPOINT is set without S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY")
	}
	if s.PublicURL == "" {
		s.PublicURL = s.Endpoint
	}
	if s.Bucket == "" {
		s.Bucket = DefaultS3Bucket
	}
	if s.Region == "" {
		s.Region = DefaultS3Region
	}
	return s, nil
}

// startSeaweedFS runs SeaweedFS (master, volume server, filer and S3
// gateway in one process, `weed server -s3`) with its data under the state
// folder, and makes the bucket. Its login is new on every start, in a 0600
// file SeaweedFS reads (never on the command line): the data stays, the
// keys of a previous run stop working.
func (s *Stack) startSeaweedFS(ctx context.Context, cfg Config) (S3, error) {
	if cfg.SeaweedFSBinary == "" {
		return S3{}, errors.New("devstack: no SeaweedFS binary: build knative/devstack/seaweedfs (make build) or set S3_ENDPOINT")
	}
	if _, err := os.Stat(cfg.SeaweedFSBinary); err != nil {
		return S3{}, fmt.Errorf("devstack: SeaweedFS binary: %w (run make build, or set S3_ENDPOINT)", err)
	}
	dir := filepath.Join(cfg.StateDir, "seaweedfs")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return S3{}, err
	}
	store := S3{AccessKey: "parley-" + randomHex(8), SecretKey: randomHex(24), Bucket: DefaultS3Bucket, Region: DefaultS3Region}
	identities := filepath.Join(dir, "s3-identities.json")
	if err := writeS3Identities(identities, store); err != nil {
		return S3{}, err
	}
	origins := "*"
	if len(cfg.S3AllowedOrigins) > 0 {
		origins = strings.Join(cfg.S3AllowedOrigins, ",")
	}
	s3Port := cfg.S3Port
	if s3Port < 0 { // any free port: one below the ephemeral range, as the others
		ps, err := internalPorts(1)
		if err != nil {
			return S3{}, err
		}
		s3Port = ps[0]
	}
	port, err := s.onFreePort("SeaweedFS", s3Port, DefaultS3Port, func(port int) (*server, error) {
		// Every part of weed server listens on an HTTP port and on a gRPC
		// port; all are private, picked here so none collides with another
		// stack (weed's defaults are fixed and 10000 above each other).
		internal, err := internalPorts(7, port)
		if err != nil {
			return nil, err
		}
		args := []string{"server", "-dir=" + filepath.Join(dir, "data"), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
			"-master.port=" + strconv.Itoa(internal[0]), "-master.port.grpc=" + strconv.Itoa(internal[1]),
			"-volume.port=" + strconv.Itoa(internal[2]), "-volume.port.grpc=" + strconv.Itoa(internal[3]),
			"-filer", "-filer.port=" + strconv.Itoa(internal[4]), "-filer.port.grpc=" + strconv.Itoa(internal[5]),
			"-s3", "-s3.port=" + strconv.Itoa(port), "-s3.port.grpc=" + strconv.Itoa(internal[6]),
			"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=" + identities, "-s3.allowedOrigins=" + origins,
			// No reports to seaweedfs.com; small volumes for a laptop.
			"-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0"}
		cmd := exec.Command(cfg.SeaweedFSBinary, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		srv, err := startServer("seaweedfs", cmd, syscall.SIGTERM, filepath.Join(cfg.StateDir, "seaweedfs.log"))
		if err != nil {
			return nil, err
		}
		// On SIGTERM weed stops its volume server and filer (their data is
		// then on disk) within a second, then its master retries growing
		// volumes for ever instead of exiting (4.53): it gets 3 s, then is
		// killed. The restart test checks the files are kept.
		srv.settleAfterStop = 3 * time.Second
		store.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		client, err := store.Client()
		if err != nil {
			return srv, err
		}
		return srv, srv.waitFor(ctx, 60*time.Second, func(ctx context.Context) error {
			return ensureBucket(ctx, client, store.Bucket, store.Region)
		})
	})
	if err != nil {
		return S3{}, err
	}
	store.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	store.PublicURL = store.Endpoint
	s.log.Info("seaweedfs ready", "s3", store.Endpoint, "bucket", store.Bucket, "data", dir)
	return store, nil
}

// internalPorts picks n distinct free ports below Linux's ephemeral range
// (32768+): weed's parts start one after another, and a port from that
// range could meanwhile become the source port of one of their own
// outgoing connections.
func internalPorts(n int, taken ...int) ([]int, error) {
	seen := map[int]bool{}
	for _, p := range taken {
		seen[p] = true
	}
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 500 {
			return nil, errors.New("devstack: no free ports for SeaweedFS below 32768")
		}
		b := make([]byte, 2)
		rand.Read(b)
		p := 20000 + int(binary.BigEndian.Uint16(b))%12000
		if seen[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// DefaultS3Port is the local S3 gateway's port.
const DefaultS3Port = 28333

func ensureBucket(ctx context.Context, c *minio.Client, bucket, region string) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil || ok {
		return err
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		return fmt.Errorf("make bucket %s: %w", bucket, err)
	}
	return nil
}

// writeS3Identities writes SeaweedFS's S3 login file (-s3.config): one
// identity, Parley's, with rights on its bucket only.
func writeS3Identities(path string, s S3) error {
	type credential struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string       `json:"name"`
		Credentials []credential `json:"credentials"`
		Actions     []string     `json:"actions"`
	}
	var actions []string
	for _, a := range []string{"Read", "Write", "List", "Tagging", "Admin"} {
		actions = append(actions, a+":"+s.Bucket)
	}
	body, _ := json.Marshal(map[string][]identity{"identities": {{Name: "parley",
		Credentials: []credential{{AccessKey: s.AccessKey, SecretKey: s.SecretKey}}, Actions: actions}}})
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return fmt.Errorf("devstack: S3 login file: %w", err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// BuildSeaweedFS returns SeaweedFS's weed, built from its module at the
// version knative/devstack/seaweedfs pins, as make build does: once, into
// .parley/seaweedfs/weed-<version> of the repository (a cold build takes
// minutes), so every test binary and make run share it.
func BuildSeaweedFS() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	module := filepath.Join(filepath.Dir(file), "seaweedfs")
	list := exec.Command("go", "list", "-m", "-f", "{{.Version}}", seaweedModule)
	list.Dir = module
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("build seaweedfs: version: %w", err)
	}
	version := strings.TrimSpace(string(out))
	bin, err := filepath.Abs(filepath.Join(module, "..", "..", "..", ".parley", "seaweedfs", "weed-"+version))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	// Test binaries start at once (go test ./...): one builds, the others
	// wait for it on this lock rather than build the same minutes again.
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("build seaweedfs: lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built while we waited
	}
	// Built beside its final name and renamed: test binaries building at
	// once never see half a file.
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, seaweedModule+"/weed")
	cmd.Dir = module
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build seaweedfs: %w\n%s", err, out)
	}
	return bin, os.Rename(tmp, bin)
}

const seaweedModule = "github.com/seaweedfs/seaweedfs"
