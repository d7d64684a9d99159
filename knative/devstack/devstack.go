// Package devstack starts the infrastructure Parley needs on one machine:
// PostgreSQL and Redis from the system's packages, FerretDB (the MongoDB wire
// protocol on PostgreSQL), an embedded Kafka-protocol broker and SeaweedFS
// (an S3 object store, for files). Each starts only when its URL is not
// given in the environment (DATABASE_URL, REDIS_URL, MONGO_URI,
// KAFKA_BROKERS, S3_ENDPOINT), keeps its data under one state
// folder so a restart finds it again, listens on 127.0.0.1 only, and uses a
// password generated on first start and stored in the state folder (0600).
// The broker has the cluster's Kafka users (kafka/users.yaml), each with
// such a password and its ACLs; with KAFKA_BROKERS, the login comes from
// KAFKA_SASL_* (or there is none).
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-chat/parley/kafka"
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
	S3Store
	All = Postgres | Redis | Mongo | Kafka | S3Store
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
	PostgresPort, RedisPort, MongoPort, KafkaPort, S3Port int
	// RedisClusterNodes, when above zero, starts a Redis Cluster of that
	// many masters (at least 3) instead of one Redis, on RedisPort and the
	// ports after it, and RedisURL names it with cluster=true.
	RedisClusterNodes int
	// RedisClusterReplicas is how many replicas each master of the
	// cluster has (on the ports after the masters'): what a test of a
	// failover needs, since on one machine they protect nothing.
	RedisClusterReplicas int
	// KafkaInMemory keeps the embedded broker's log in memory instead of
	// under StateDir. Tests use it: nothing outlives their stack, and a
	// fetch then costs no file reads, as with a real broker's page cache.
	KafkaInMemory bool
	// FerretDBBinary is the wrapper built from knative/devstack/ferretdb.
	// Required unless MONGO_URI is set.
	FerretDBBinary string
	// SeaweedFSBinary is weed, built from knative/devstack/seaweedfs.
	// Required unless S3_ENDPOINT is set.
	SeaweedFSBinary string
	// S3AllowedOrigins are the web origins that may call the S3 store from
	// a browser (CORS: uploads PUT there directly). Empty allows any: the
	// presigned URL is the authorisation, not the origin.
	S3AllowedOrigins []string
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
	DatabaseURL string
	// SearchDatabaseURL is the search function's database, as its own role:
	// SEARCH_DATABASE_URL, else one provisioned on the server started here.
	SearchDatabaseURL string
	RedisURL          string
	MongoURI          string
	KafkaBrokers      []string
	// S3 is the object store for files: S3_ENDPOINT and its login, else the
	// SeaweedFS started here.
	S3 S3
	// KafkaConnector is the connector's login to Kafka (the parley-connector
	// user: it may only append to the Broker's topic), KafkaDataPlane the
	// Broker data plane's, which the emulator uses (parley-knative). With
	// KAFKA_BROKERS both are the login KAFKA_SASL_* give, maybe none.
	KafkaConnector, KafkaDataPlane kafka.Credentials

	log        *slog.Logger
	servers    []*server // in start order
	kafka      *devbroker.Broker
	kafkaUsers []kafka.User // of the embedded broker, with passwords
}

// The users of kafka/users.yaml the local services log in as.
const (
	kafkaConnectorUser = "parley-connector"
	kafkaDataPlaneUser = "parley-knative"
)

// Env returns the variables services read to reach the stack, the
// connector's Kafka login (KAFKA_SASL_*) included: only the connector talks
// to Kafka itself, and the base manifests do not name these variables, so
// give them to it as extra variables too (emulator.Config.ExtraEnv).
func (s *Stack) Env() map[string]string {
	env := map[string]string{
		"DATABASE_URL":        s.DatabaseURL,
		"SEARCH_DATABASE_URL": s.SearchDatabaseURL,
		"REDIS_URL":           s.RedisURL,
		"MONGO_URI":           s.MongoURI,
		"KAFKA_BROKERS":       strings.Join(s.KafkaBrokers, ","),
	}
	for k, v := range s.KafkaConnector.Env() {
		env[k] = v
	}
	for k, v := range s.S3.Env() {
		env[k] = v
	}
	return env
}

// KafkaUsers are the embedded broker's users with their passwords, for a
// second broker that the same clients log in to (tests); nil with
// KAFKA_BROKERS.
func (s *Stack) KafkaUsers() []kafka.User {
	var out []kafka.User
	for _, u := range s.kafkaUsers {
		u.ACLs = slices.Clone(u.ACLs)
		out = append(out, u)
	}
	return out
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
	if cfg.RedisClusterNodes != 0 && cfg.RedisClusterNodes < 3 {
		return nil, errors.New("devstack: a Redis Cluster needs at least 3 masters")
	}
	if cfg.RedisClusterReplicas < 0 || cfg.RedisClusterReplicas > 0 && cfg.RedisClusterNodes == 0 {
		return nil, errors.New("devstack: replicas are of a Redis Cluster's masters: set RedisClusterNodes too")
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
		if s.SearchDatabaseURL, err = s.provisionSearch(ctx, cfg.StateDir, s.DatabaseURL); err != nil {
			return nil, err
		}
	} else if s.DatabaseURL != "" {
		s.log.Info("using PostgreSQL from DATABASE_URL")
	}
	// A server of your own is not changed here: with DATABASE_URL, name
	// search's database too (else the search function says it is missing).
	if v := cfg.Getenv("SEARCH_DATABASE_URL"); v != "" {
		s.SearchDatabaseURL = v
	} else if s.DatabaseURL != "" && s.SearchDatabaseURL == "" {
		s.log.Warn("DATABASE_URL is set but SEARCH_DATABASE_URL is not: the search function will not start")
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

	if cfg.Getenv("S3_ENDPOINT") != "" {
		if s.S3, err = s3FromEnv(cfg.Getenv); err != nil {
			return nil, err
		}
		s.log.Info("using S3 from S3_ENDPOINT", "bucket", s.S3.Bucket)
	} else if want(S3Store) {
		if s.S3, err = s.startSeaweedFS(ctx, cfg); err != nil {
			return nil, err
		}
	}

	if brokers := cfg.Getenv("KAFKA_BROKERS"); brokers != "" {
		s.KafkaBrokers = strings.Split(brokers, ",")
		if s.KafkaConnector, err = kafka.CredentialsFromEnv(cfg.Getenv); err != nil {
			return nil, err
		}
		s.KafkaDataPlane = s.KafkaConnector
		s.log.Info("using Kafka from KAFKA_BROKERS", "login", s.KafkaConnector)
	} else if want(Kafka) {
		port := defaultPort(cfg.KafkaPort, DefaultKafkaPort)
		if port < 0 {
			port = 0
		}
		dataDir := filepath.Join(cfg.StateDir, "kafka")
		if cfg.KafkaInMemory {
			dataDir = ""
		}
		if err := s.kafkaLogins(cfg.StateDir); err != nil {
			return nil, err
		}
		s.kafka, err = devbroker.Start(ctx, devbroker.Config{Port: port, DataDir: dataDir, Users: s.kafkaUsers})
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

// kafkaLogins gives each of the cluster's Kafka users a password of this
// installation and picks the services' logins among them.
func (s *Stack) kafkaLogins(stateDir string) error {
	users, err := kafka.Users()
	if err != nil {
		return err
	}
	logins := map[string]*kafka.Credentials{kafkaConnectorUser: &s.KafkaConnector, kafkaDataPlaneUser: &s.KafkaDataPlane}
	for i, u := range users {
		if users[i].Password, err = secret(filepath.Join(stateDir, "secrets", "kafka-"+u.Name+"-password")); err != nil {
			return err
		}
		if c, ok := logins[u.Name]; ok {
			*c = kafka.Credentials{Mechanism: kafka.MechanismSCRAMSHA512, Username: u.Name, Password: users[i].Password}
			delete(logins, u.Name)
		}
	}
	for name := range logins {
		return fmt.Errorf("devstack: kafka/users.yaml has no user %s", name)
	}
	s.kafkaUsers = users
	return nil
}

func defaultPort(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}
