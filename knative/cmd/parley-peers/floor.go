package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/parley-chat/parley/kafka"
	"github.com/parley-chat/parley/kafka/cekafka"
	"github.com/parley-chat/parley/kafka/devbroker"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/procstat"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// floorResult is goal 2's floor: the least CPU a durable message can cost
// here.
type floorResult struct {
	Messages        int64
	Seconds         float64
	CPUMSPerMessage float64            // all processes, per message
	ProcessCPUMS    map[string]float64 // by process name, per message
	MachineBusy     float64            // cores, while it ran
}

// floorDoc is a message document as persist stores it (its messageDoc).
type floorDoc struct {
	ID          string    `bson:"_id"`
	RoomID      string    `bson:"room_id"`
	Seq         int64     `bson:"seq"`
	UserID      string    `bson:"user_id"`
	Username    string    `bson:"username"`
	Text        string    `bson:"text"`
	ClientMsgID string    `bson:"client_msg_id,omitempty"`
	CreatedAt   time.Time `bson:"created_at"`
}

const floorTopic = "parley-floor"

// runFloor produces messages as the connector does (parley.message.sent
// CloudEvents in binary mode, keyed by room, acks=all and idempotent) at
// rate for d to the repo's embedded Kafka, reads them back in a consumer
// group, and InsertMany-s each fetch into the stack's FerretDB, with
// persist's document shape and unique index: what any durable pipeline
// must do per message, and nothing else. Its Kafka is a broker of its own
// set up as the stack's (the same package, a data folder), so no Trigger
// sees these messages. The CPU is that of every process under this one
// (the broker and both clients run here; FerretDB and PostgreSQL are
// children), with Parley's platform not running.
func runFloor(ctx context.Context, stack *devstack.Stack, dir string, rate float64, d time.Duration, textSize int) (floorResult, error) {
	var res floorResult
	broker, err := devbroker.Start(ctx, devbroker.Config{DataDir: filepath.Join(dir, "floor-kafka"),
		Topics: []kafka.Topic{{Name: floorTopic, Partitions: 12}}})
	if err != nil {
		return res, err
	}
	defer broker.Close()
	mc, err := mongo.Connect(options.Client().ApplyURI(stack.MongoURI))
	if err != nil {
		return res, fmt.Errorf("floor: mongo: %w", err)
	}
	defer mc.Disconnect(context.Background())
	coll := mc.Database("parley_floor").Collection("messages")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "room_id", Value: 1}, {Key: "seq", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("room_seq")}); err != nil {
		return res, fmt.Errorf("floor: index: %w", err)
	}
	producer, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.DefaultProduceTopic(floorTopic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return res, err
	}
	defer producer.Close()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr()), kgo.ConsumeTopics(floorTopic), kgo.ConsumerGroup("floor"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return res, err
	}
	defer consumer.Close()

	total := int64(rate * d.Seconds())
	before, err := procstat.All()
	if err != nil {
		return res, err
	}
	machineBefore, begin := procstat.ReadMachine(), time.Now()
	produceErr := make(chan error, 1)
	go func() { produceErr <- produceFloor(ctx, producer, begin, rate, total, textSize) }()
	stored, err := storeFloor(ctx, consumer, coll, total, begin.Add(d+time.Minute))
	if perr := <-produceErr; perr != nil {
		return res, perr
	}
	if err != nil {
		return res, err
	}
	res.Seconds = time.Since(begin).Seconds()
	res.MachineBusy = procstat.ReadMachine().BusySince(machineBefore)
	after, err := procstat.All()
	if err != nil {
		return res, err
	}
	res.Messages = stored
	res.ProcessCPUMS = map[string]float64{}
	for name, used := range after.Tree(os.Getpid()).Since(before.Tree(os.Getpid())) {
		ms := float64(used.Microseconds()) / 1000 / float64(stored)
		res.ProcessCPUMS[name] = ms
		res.CPUMSPerMessage += ms
	}
	return res, nil
}

// produceFloor sends total messages on a fixed schedule, as the load
// generator's publishers do, and waits for every ack.
func produceFloor(ctx context.Context, producer *kgo.Client, begin time.Time, rate float64, total int64, textSize int) error {
	interval := time.Duration(float64(time.Second) / rate)
	errs := make(chan error, 1)
	for k := range total {
		if wait := time.Until(begin.Add(time.Duration(k) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		room := "floor-room-" + strconv.FormatInt(k%10, 10)
		text := "floor message " + strconv.FormatInt(k, 10) + " "
		text += strings.Repeat("x", max(0, textSize-len(text)))
		now := time.Now().UTC()
		msg := eventsv1.Message{ID: uuid.Must(uuid.NewV7()).String(), RoomID: room, Seq: k/10 + 1, UserID: "floor-user",
			Username: "floor", Text: text, ClientMsgID: "floor-" + strconv.FormatInt(k, 10), CreatedAt: now}
		e, err := eventsv1.New(msg.ID, eventsv1.TypeMessageSent, eventsv1.SourceConnector, room, now, msg)
		if err != nil {
			return err
		}
		key, headers, value, err := cekafka.Encode(e)
		if err != nil {
			return err
		}
		rec := &kgo.Record{Key: key, Value: value}
		for _, h := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- fmt.Errorf("floor: produce: %w", err):
				default:
				}
			}
		})
	}
	if err := producer.Flush(ctx); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// storeFloor inserts what each fetch brings, until total are stored.
func storeFloor(ctx context.Context, consumer *kgo.Client, coll *mongo.Collection, total int64, deadline time.Time) (int64, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var stored int64
	for stored < total {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return stored, fmt.Errorf("floor: %d of %d messages stored: %w", stored, total, err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			return stored, fmt.Errorf("floor: fetch: %w", errs[0].Err)
		}
		var docs []any
		var bad error
		fetches.EachRecord(func(r *kgo.Record) {
			var m eventsv1.Message
			if err := json.Unmarshal(r.Value, &m); err != nil {
				bad = errors.Join(bad, err)
				return
			}
			docs = append(docs, floorDoc{ID: m.ID, RoomID: m.RoomID, Seq: m.Seq, UserID: m.UserID, Username: m.Username,
				Text: m.Text, ClientMsgID: m.ClientMsgID, CreatedAt: m.CreatedAt})
		})
		if bad != nil {
			return stored, fmt.Errorf("floor: decode: %w", bad)
		}
		if len(docs) == 0 {
			continue
		}
		if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return stored, fmt.Errorf("floor: insert: %w", err)
		}
		stored += int64(len(docs))
	}
	return stored, nil
}
