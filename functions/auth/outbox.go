package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parley-chat/parley/knative/ksvc"
	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// publisher sends outbox rows to the Broker. Rows are written in the same
// transaction as the change they describe, so an event is never lost: if
// the Broker is down they wait, and every start of the function (and every
// new write) sends what is pending. Consumers de-duplicate by event id.
type publisher struct {
	store   *store
	client  cloudevents.Client
	target  string
	log     *slog.Logger
	wake    chan struct{}
	backoff time.Duration
}

func newPublisher(s *store, target, tokenFile string, log *slog.Logger) (*publisher, error) {
	p := &publisher{store: s, target: target, log: log, wake: make(chan struct{}, 1), backoff: time.Second}
	if target == "" {
		log.Warn("BROKER_URL is unset: events stay in the outbox until it is set")
		return p, nil
	}
	c, err := ksvc.NewBrokerClient(target, tokenFile)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	p.client = c
	return p, nil
}

// notify asks the loop to publish soon; it never blocks.
func (p *publisher) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run publishes until ctx ends: at start, when notified, and every backoff
// after a failure.
func (p *publisher) run(ctx context.Context) {
	if p.client == nil {
		return
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-retry.C:
		}
		if err := p.flush(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("publishing events failed; will retry", "error", err, "retry_in", p.backoff.String())
			retry.Reset(p.backoff)
		}
	}
}

// flush sends pending rows in order, 100 at a time, marking each sent.
func (p *publisher) flush(ctx context.Context) error {
	for {
		sent := 0
		var sendErr error
		err := p.store.inTx(ctx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT seq, id, type, partition_key, data, created_at FROM outbox
				WHERE sent_at IS NULL ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED`)
			if err != nil {
				return err
			}
			type row struct {
				seq       int64
				id        uuid.UUID
				typ, key  string
				data      json.RawMessage
				createdAt time.Time
			}
			pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				return x, r.Scan(&x.seq, &x.id, &x.typ, &x.key, &x.data, &x.createdAt)
			})
			if err != nil {
				return err
			}
			for _, x := range pending {
				e, err := eventsv1.New(x.id.String(), x.typ, eventsv1.SourceAuth, x.key, x.createdAt, []byte(x.data))
				if err != nil {
					return err
				}
				if res := p.client.Send(cloudevents.ContextWithTarget(ctx, p.target), e); !cloudevents.IsACK(res) {
					// Commit what went out; the rest waits for the retry, in order.
					sendErr = fmt.Errorf("send %s %s: %w", x.typ, x.id, res)
					return nil
				}
				if _, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE seq = $1`, x.seq); err != nil {
					return err
				}
				sent++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if sendErr != nil || sent < 100 {
			return sendErr
		}
	}
}
