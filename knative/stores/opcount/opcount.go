// Package opcount counts the commands a service sends to its stores, by
// store, command and collection, so a benchmark can report them per
// message: a count of work that does not depend on how busy the machine
// is, unlike a wall-clock rate.
package opcount

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/event"
)

// Counter counts commands. The zero value is ready.
type Counter struct {
	mu  sync.Mutex
	ops map[string]int64
}

func (c *Counter) add(op string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops = map[string]int64{}
	}
	c.ops[op] += n
}

// Reset forgets what was counted (after a warm-up).
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops = nil
}

// Counts returns the counts so far, by operation ("mongodb insert
// messages", "redis evalsha").
func (c *Counter) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

// MongoMonitor counts every command started, by name and collection (the
// value of its first element, for the commands that name one).
func (c *Counter) MongoMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, ev *event.CommandStartedEvent) {
		op := "mongodb " + ev.CommandName
		if el, err := ev.Command.IndexErr(0); err == nil {
			if coll, ok := el.Value().StringValueOK(); ok {
				op += " " + coll
			}
		}
		c.add(op, 1)
	}}
}

// RedisHook counts commands by name, and pipelines as one round trip each.
func (c *Counter) RedisHook() redis.Hook { return hook{c} }

type hook struct{ c *Counter }

func (hook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.c.add("redis "+cmd.Name(), 1)
		return next(ctx, cmd)
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.c.add("redis (pipeline round trip)", 1)
		for _, cmd := range cmds {
			h.c.add("redis "+cmd.Name(), 1)
		}
		return next(ctx, cmds)
	}
}

// PgxTracer counts PostgreSQL statements by their first three words
// ("postgresql insert into messages").
func (c *Counter) PgxTracer() pgx.QueryTracer { return pgxTracer{c} }

type pgxTracer struct{ c *Counter }

func (t pgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	words := strings.Fields(strings.ToLower(data.SQL))
	t.c.add("postgresql "+strings.Join(words[:min(len(words), 3)], " "), 1)
	return ctx
}

func (pgxTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Table formats counts per message, one operation a line, largest first.
func Table(counts map[string]int64, messages int) string {
	ops := slices.Sorted(maps.Keys(counts))
	slices.SortStableFunc(ops, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	var sb strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&sb, "  %-44s %8.4f per message (%d)\n", op, float64(counts[op])/float64(messages), counts[op])
	}
	return sb.String()
}
