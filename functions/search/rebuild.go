package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/kafka/kgoauth"
	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// rebuildSchema holds the fresh index while it fills; the live one keeps
// answering meanwhile.
const rebuildSchema = "search_rebuild"

// indexed are the event types search's Triggers deliver; a replay skips
// the rest of the topic.
var indexed = map[string]bool{
	eventsv1.TypeMessageStored: true, eventsv1.TypeMessageEdited: true, eventsv1.TypeMessageDeleted: true,
	eventsv1.TypeMessageFlagged: true, eventsv1.TypeMessageRestored: true,
}

// beforeSwap, when set (by tests), runs between the replay and the swap:
// where events that the rebuild must catch up on arrive.
var beforeSwap func()

// replayStats counts what a replay did.
type replayStats struct {
	Records, Applied, Refused int
}

func rebuildMain(args []string) int {
	log := ksvc.NewLogger("search-rebuild", slog.LevelInfo)
	if len(args) > 0 {
		log.Error("rebuild takes no arguments; it reads SEARCH_DATABASE_URL, KAFKA_BROKERS, KAFKA_TOPIC and KAFKA_SASL_*")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rebuildFromEnv(ctx, os.Getenv, log); err != nil {
		log.Error("rebuild failed; the live index is unchanged unless the swap was logged", "error", err)
		return 1
	}
	return 0
}

func rebuildFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) error {
	brokers := getenv("KAFKA_BROKERS")
	if brokers == "" {
		return errors.New("KAFKA_BROKERS is required")
	}
	creds, err := kafka.CredentialsFromEnv(getenv)
	if err != nil {
		return err
	}
	auth, err := kgoauth.Opts(creds)
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, getenv, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer pool.Close()
	topic := getenv("KAFKA_TOPIC")
	if topic == "" {
		topic = "parley-events"
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, auth...)
	_, err = rebuild(ctx, pool, opts, topic, log)
	return err
}

// rebuild replays topic from its earliest offsets into a fresh index and
// swaps it in for the live one, which keeps answering until then:
//
//  1. the migrations make an empty index in schema search_rebuild;
//  2. every record up to the topic's end, as it was when the rebuild began,
//     is applied to it with the same handler the Triggers call;
//  3. one transaction drops the live table and moves the new one in;
//  4. what arrived during 2 and 3, which the Triggers wrote to the old
//     table, is applied again to the new one (every write keeps the newest
//     state, so applying an event twice changes nothing).
//
// An error before 3 leaves the live index as it was.
func rebuild(ctx context.Context, live *pgxpool.Pool, kafkaOpts []kgo.Opt, topic string, log *slog.Logger) (replayStats, error) {
	var schema string
	if err := live.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return replayStats{}, fmt.Errorf("search: rebuild: %w", err)
	}
	if err := (&store{pool: live}).migrate(ctx); err != nil {
		return replayStats{}, err
	}
	if _, err := live.Exec(ctx, "DROP SCHEMA IF EXISTS "+rebuildSchema+" CASCADE; CREATE SCHEMA "+rebuildSchema); err != nil {
		return replayStats{}, fmt.Errorf("search: rebuild: fresh schema: %w", err)
	}
	cfg := live.Config()
	cfg.ConnConfig.RuntimeParams["search_path"] = rebuildSchema
	cfg.MaxConns = 2
	fresh, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return replayStats{}, fmt.Errorf("search: rebuild: %w", err)
	}
	defer fresh.Close()
	freshStore := &store{pool: fresh}
	if err := freshStore.migrate(ctx); err != nil {
		return replayStats{}, err
	}

	admin, err := kgo.NewClient(kafkaOpts...)
	if err != nil {
		return replayStats{}, fmt.Errorf("search: rebuild: kafka: %w", err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	start, err := offsets(ctx, adm.ListStartOffsets, topic)
	if err != nil {
		return replayStats{}, err
	}
	end, err := offsets(ctx, adm.ListEndOffsets, topic)
	if err != nil {
		return replayStats{}, err
	}
	log.Info("replaying the topic into a fresh index", "topic", topic, "partitions", len(end))
	stats, err := replay(ctx, kafkaOpts, topic, start, end, &function{store: freshStore}, log)
	if err != nil {
		return stats, err
	}
	if beforeSwap != nil {
		beforeSwap()
	}

	err = pgx.BeginFunc(ctx, live, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "messages"}.Sanitize()+
			"; ALTER TABLE "+rebuildSchema+".messages SET SCHEMA "+pgx.Identifier{schema}.Sanitize()+
			"; DROP SCHEMA "+rebuildSchema+" CASCADE")
		return err
	})
	if err != nil {
		return stats, fmt.Errorf("search: rebuild: swap: %w", err)
	}
	log.Info("fresh index swapped in", "records", stats.Records, "applied", stats.Applied, "refused", stats.Refused)

	now, err := offsets(ctx, adm.ListEndOffsets, topic)
	if err != nil {
		return stats, err
	}
	more, err := replay(ctx, kafkaOpts, topic, end, now, &function{store: &store{pool: live}}, log)
	stats.Records, stats.Applied, stats.Refused = stats.Records+more.Records, stats.Applied+more.Applied, stats.Refused+more.Refused
	if err != nil {
		return stats, fmt.Errorf("search: rebuild: catching up after the swap (the Triggers' redeliveries cover the rest): %w", err)
	}
	log.Info("rebuild done", "records", stats.Records, "applied", stats.Applied, "refused", stats.Refused)
	return stats, nil
}

func offsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (map[int32]int64, error) {
	listed, err := list(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("search: rebuild: offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("search: rebuild: topic %s not found", topic)
	}
	return out, nil
}

// replay applies every record of topic from offsets from up to (not
// including) offsets to. A record the handler refuses for good is counted
// and skipped, as its Trigger dead-lettered it; any other failure stops
// the replay.
func replay(ctx context.Context, kafkaOpts []kgo.Opt, topic string, from, to map[int32]int64, f *function, log *slog.Logger) (replayStats, error) {
	var stats replayStats
	assign := map[int32]kgo.Offset{}
	for p, end := range to {
		if from[p] < end {
			assign[p] = kgo.NewOffset().At(from[p])
		}
	}
	if len(assign) == 0 {
		return stats, nil
	}
	cl, err := kgo.NewClient(append(kafkaOpts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}))...)
	if err != nil {
		return stats, fmt.Errorf("search: rebuild: kafka: %w", err)
	}
	defer cl.Close()
	for len(assign) > 0 {
		// A partition whose last offsets before the end hold no record (a
		// transaction marker, compaction) would be waited on for ever:
		// after a quiet stallTimeout it is an error naming the partitions.
		pollCtx, cancel := context.WithTimeout(ctx, stallTimeout)
		fetches := cl.PollFetches(pollCtx)
		cancel()
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if pollCtx.Err() != nil && fetches.NumRecords() == 0 {
			return stats, fmt.Errorf("search: rebuild: no record for %s from partitions %v before their end offsets", stallTimeout, keys(assign))
		}
		var failed error
		fetches.EachError(func(_ string, _ int32, err error) { failed = errors.Join(failed, err) })
		if failed != nil {
			return stats, fmt.Errorf("search: rebuild: fetch: %w", failed)
		}
		for _, rec := range fetches.Records() {
			if rec.Offset >= to[rec.Partition] {
				delete(assign, rec.Partition)
				continue
			}
			stats.Records++
			if err := apply(ctx, f, rec, &stats, log); err != nil {
				return stats, err
			}
			if rec.Offset+1 >= to[rec.Partition] {
				delete(assign, rec.Partition)
			}
		}
	}
	return stats, nil
}

// stallTimeout is how long a replay waits for the next record of a
// partition that has not reached its end offset.
const stallTimeout = 30 * time.Second

func keys(m map[int32]kgo.Offset) []int32 {
	out := make([]int32, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	return out
}

func apply(ctx context.Context, f *function, rec *kgo.Record, stats *replayStats, log *slog.Logger) error {
	headers := make([]cekafka.Header, len(rec.Headers))
	for i, h := range rec.Headers {
		headers[i] = cekafka.Header{Key: h.Key, Value: h.Value}
	}
	e, err := cekafka.Decode(headers, rec.Value)
	if err != nil {
		stats.Refused++
		log.Warn("record skipped: not a CloudEvent", "partition", rec.Partition, "offset", rec.Offset, "error", err)
		return nil
	}
	if !indexed[e.Type()] {
		return nil
	}
	_, err = f.Handle(ctx, e)
	switch {
	case err == nil:
		stats.Applied++
	case ksvc.IsPermanent(err):
		stats.Refused++
		log.Warn("event skipped: refused, as its Trigger refused it", "partition", rec.Partition, "offset", rec.Offset,
			"type", e.Type(), "error", err)
	default:
		return fmt.Errorf("search: rebuild: partition %d offset %d: %w", rec.Partition, rec.Offset, err)
	}
	return nil
}
