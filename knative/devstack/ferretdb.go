package devstack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startFerretDB serves the MongoDB API on top of PostgreSQL: the local
// server's ferretdb database, or the database in DATABASE_URL when given.
func (s *Stack) startFerretDB(ctx context.Context, cfg Config) (string, error) {
	if cfg.FerretDBBinary == "" {
		return "", errors.New("devstack: no FerretDB binary: build knative/devstack/ferretdb (make build) or set MONGO_URI")
	}
	if _, err := os.Stat(cfg.FerretDBBinary); err != nil {
		return "", fmt.Errorf("devstack: FerretDB binary: %w (run make build, or set MONGO_URI)", err)
	}
	backend, err := ferretBackend(s.DatabaseURL, cfg.Getenv("DATABASE_URL") != "")
	if err != nil {
		return "", err
	}
	port, err := s.onFreePort("FerretDB", cfg.MongoPort, DefaultMongoPort, func(port int) (*server, error) {
		cmd := exec.Command(cfg.FerretDBBinary, "-listen-addr", "127.0.0.1:"+strconv.Itoa(port))
		// The backend URL holds a password: pass it in the environment, not argv.
		cmd.Env = []string{"FERRETDB_POSTGRESQL_URL=" + backend, "PATH=" + os.Getenv("PATH")}
		srv, err := startServer("ferretdb", cmd, syscall.SIGTERM, filepath.Join(cfg.StateDir, "ferretdb.log"))
		if err != nil {
			return nil, err
		}
		client, err := mongo.Connect(options.Client().ApplyURI(mongoURI(port)).SetServerSelectionTimeout(time.Second))
		if err != nil {
			return srv, err
		}
		defer client.Disconnect(context.WithoutCancel(ctx))
		return srv, srv.waitFor(ctx, 30*time.Second, func(ctx context.Context) error { return client.Ping(ctx, nil) })
	})
	if err != nil {
		return "", err
	}
	s.log.Info("ferretdb ready", "port", port)
	return mongoURI(port), nil
}

func mongoURI(port int) string { return "mongodb://127.0.0.1:" + strconv.Itoa(port) + "/" }

// ferretBackend points FerretDB at the ferretdb database of the local
// server, or at the database of a DATABASE_URL the user gave us.
func ferretBackend(databaseURL string, userGiven bool) (string, error) {
	if userGiven {
		return databaseURL, nil
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("devstack: DATABASE_URL: %w", err)
	}
	u.Path = "/ferretdb"
	return u.String(), nil
}
