package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// databases created on first start: Parley's own, and FerretDB's backend.
var databases = []string{"parley", "ferretdb"}

func (s *Stack) startPostgres(ctx context.Context, cfg Config) (string, error) {
	postgres, err := findBinary("postgres", "postgresql", cfg.InstallMissing, "/usr/lib/postgresql/*/bin/postgres")
	if err != nil {
		return "", err
	}
	initdb := filepath.Join(filepath.Dir(postgres), "initdb")
	password, err := secret(filepath.Join(cfg.StateDir, "secrets", "postgres-password"))
	if err != nil {
		return "", err
	}
	dataRoot, cred, err := postgresDataRoot(cfg.StateDir, s)
	if err != nil {
		return "", err
	}
	data := filepath.Join(dataRoot, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if err := runInitdb(initdb, dataRoot, data, password, cred); err != nil {
			return "", err
		}
	}
	port, err := s.onFreePort("PostgreSQL", cfg.PostgresPort, DefaultPostgresPort, func(port int) (*server, error) {
		return runPostgres(ctx, postgres, data, port, password, cred, cfg.StateDir)
	})
	if err != nil {
		return "", err
	}
	s.log.Info("postgresql ready", "port", port, "data", data)
	return pgURL(password, port, "parley"), nil
}

func pgURL(password string, port int, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("parley", password),
		Host: "127.0.0.1:" + strconv.Itoa(port), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// postgresDataRoot decides where the cluster lives and as whom it runs.
// PostgreSQL refuses to run as root, so as root it runs as the postgres
// user, which must be able to reach the folder: when the state folder sits
// under a directory postgres cannot enter (a 0700 home, say), the cluster
// goes to /var/lib/parley/<hash of the state folder> instead, stable across
// restarts.
func postgresDataRoot(stateDir string, s *Stack) (string, *syscall.Credential, error) {
	root := filepath.Join(stateDir, "postgres")
	if os.Geteuid() != 0 {
		return root, nil, os.MkdirAll(root, 0o700)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", nil, fmt.Errorf("devstack: running as root needs the postgres user (from the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if !reachableBy(stateDir, cred) {
		sum := sha256.Sum256([]byte(stateDir))
		root = filepath.Join("/var/lib/parley", hex.EncodeToString(sum[:8]), "postgres")
		s.log.Info("state folder not reachable by the postgres user; keeping PostgreSQL data elsewhere", "data", root)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", nil, err
	}
	if err := os.Chown(root, uid, gid); err != nil {
		return "", nil, err
	}
	return root, cred, nil
}

// reachableBy reports whether every directory above path lets cred's user pass.
func reachableBy(path string, cred *syscall.Credential) bool {
	cmd := exec.Command("test", "-x", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd.Run() == nil
}

func runInitdb(initdb, root, data, password string, cred *syscall.Credential) error {
	pwfile := filepath.Join(root, "initdb-password")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if cred != nil {
		os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(initdb, "-D", data, "-U", "parley", "--pwfile", pwfile,
		"--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("devstack: initdb: %w\n%s", err, out)
	}
	return nil
}

// runPostgres starts the server on port and waits until it serves, with
// Parley's databases created.
func runPostgres(ctx context.Context, postgres, data string, port int, password string, cred *syscall.Credential, stateDir string) (*server, error) {
	cmd := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	srv, err := startServer("postgresql", cmd, syscall.SIGINT, filepath.Join(stateDir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	admin := pgURL(password, port, "postgres")
	return srv, srv.waitFor(ctx, 60*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		for _, db := range databases {
			var exists bool
			if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
					return fmt.Errorf("create database %s: %w", db, err)
				}
			}
		}
		return nil
	})
}
