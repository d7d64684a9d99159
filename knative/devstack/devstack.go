// Package devstack starts the infrastructure Parley needs on one machine:
// PostgreSQL and Redis from the system's packages, FerretDB (the MongoDB wire
// protocol on PostgreSQL) and an embedded Kafka-protocol broker. Each starts
// only when its URL is not given in the environment (DATABASE_URL,
// REDIS_URL, MONGO_URI, KAFKA_BROKERS), keeps its data under one state
// folder so a restart finds it again, listens on 127.0.0.1 only, and uses a
// password generated on first start and stored in the state folder (0600).
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-chat/parley/kafka/devbroker"
)

// Component selects servers for Up.
type Component uint8

// The servers Up can start. MongoDB (FerretDB) needs PostgreSQL as its backend.
const (
	Postgres Component = 1 << iota
	Redis
	Mongo
	Kafka
	All = Postgres | Redis | Mongo | Kafka
)

// Config configures Up. Zero ports get the defaults below: uncommon ports so
// a server already on the machine is never disturbed, and below Linux's
// ephemeral range (32768+) so no outgoing connection can be holding them.
type Config struct {
	// StateDir holds all data and generated secrets. Required.
	StateDir string
	// Getenv reads the URL overrides; nil means os.Getenv.
	Getenv func(string) string
	// Ports of the servers started here; -1 picks a free port (tests).
	PostgresPort, RedisPort, MongoPort, KafkaPort int
	// KafkaInMemory keeps the embedded broker's log in memory instead of
	// under StateDir. Tests use it: nothing outlives their stack, and a
	// fetch then costs no file reads, as with a real broker's page cache.
	KafkaInMemory bool
	// FerretDBBinary is the wrapper built from knative/devstack/ferretdb.
	// Required unless MONGO_URI is set.
	FerretDBBinary string
	// InstallMissing lets Up install postgresql or redis-server with apt-get
	// when it runs as root on Debian or Ubuntu and they are missing.
	InstallMissing bool
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Components to run; zero means All.
	Components Component
}

// Default ports of the local servers.
const (
	DefaultPostgresPort = 25432
	DefaultRedisPort    = 26379
	DefaultMongoPort    = 27117
	DefaultKafkaPort    = 29092
)

// Stack is the running infrastructure and the URLs to reach it.
type Stack struct {
	DatabaseURL  string
	RedisURL     string
	MongoURI     string
	KafkaBrokers []string

	log     *slog.Logger
	servers []*server // in start order
	kafka   *devbroker.Broker
}

// Env returns the variables services read to reach the stack.
func (s *Stack) Env() map[string]string {
	return map[string]string{
		"DATABASE_URL":  s.DatabaseURL,
		"REDIS_URL":     s.RedisURL,
		"MONGO_URI":     s.MongoURI,
		"KAFKA_BROKERS": strings.Join(s.KafkaBrokers, ","),
	}
}

// Up starts what the environment does not provide. On error, whatever it
// started is stopped again.
func Up(ctx context.Context, cfg Config) (_ *Stack, err error) {
	if cfg.StateDir == "" {
		return nil, errors.New("devstack: StateDir is required")
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Components == 0 {
		cfg.Components = All
	}
	if cfg.Components&Mongo != 0 && cfg.Getenv("MONGO_URI") == "" {
		cfg.Components |= Postgres // FerretDB's backend
	}
	want := func(c Component) bool { return cfg.Components&c != 0 }
	if cfg.StateDir, err = filepath.Abs(cfg.StateDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: state folder: %w", err)
	}
	s := &Stack{log: cfg.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.DatabaseURL = cfg.Getenv("DATABASE_URL")
	if s.DatabaseURL == "" && want(Postgres) {
		if s.DatabaseURL, err = s.startPostgres(ctx, cfg); err != nil {
			return nil, err
		}
	} else if s.DatabaseURL != "" {
		s.log.Info("using PostgreSQL from DATABASE_URL")
	}

	s.RedisURL = cfg.Getenv("REDIS_URL")
	if s.RedisURL == "" && want(Redis) {
		if s.RedisURL, err = s.startRedis(ctx, cfg); err != nil {
			return nil, err
		}
	} else if s.RedisURL != "" {
		s.log.Info("using Redis from REDIS_URL")
	}

	s.MongoURI = cfg.Getenv("MONGO_URI")
	if s.MongoURI == "" && want(Mongo) {
		if s.MongoURI, err = s.startFerretDB(ctx, cfg); err != nil {
			return nil, err
		}
	} else if s.MongoURI != "" {
		s.log.Info("using MongoDB from MONGO_URI")
	}

	if brokers := cfg.Getenv("KAFKA_BROKERS"); brokers != "" {
		s.KafkaBrokers = strings.Split(brokers, ",")
		s.log.Info("using Kafka from KAFKA_BROKERS")
	} else if want(Kafka) {
		port := defaultPort(cfg.KafkaPort, DefaultKafkaPort)
		if port < 0 {
			port = 0
		}
		dataDir := filepath.Join(cfg.StateDir, "kafka")
		if cfg.KafkaInMemory {
			dataDir = ""
		}
		s.kafka, err = devbroker.Start(ctx, devbroker.Config{Port: port, DataDir: dataDir})
		if err != nil {
			return nil, err
		}
		s.KafkaBrokers = []string{s.kafka.Addr()}
		s.log.Info("kafka ready", "addr", s.kafka.Addr())
	}
	return s, nil
}

// Close stops everything Up started, in reverse order, each gracefully.
func (s *Stack) Close() error {
	if s.kafka != nil {
		s.kafka.Close()
		s.kafka = nil
	}
	var errs []error
	for i := len(s.servers) - 1; i >= 0; i-- {
		errs = append(errs, s.servers[i].stop(20*time.Second))
	}
	s.servers = nil
	return errors.Join(errs...)
}

func defaultPort(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}
