package seqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// prelude is the start of every Library: run_id() and take_seq().
//
// run_id() names the data of the Redis server executing the function: the
// server's run_id and its replication id. It is read there, not passed in,
// because a client's idea of the server it talks to is stale until it
// notices a restart or failover, while the server's is never. The run_id
// changes with a restart; the replication id with a replica's promotion,
// so a master that was failed over to a lagging replica, took that
// replica's data and was promoted back, without a restart, does not match
// what it wrote before. The run_id is read once per library load and kept
// in the library's Lua state, which lives no longer than the server
// process. The replication id is read on every call: it may change while
// the server runs (a promotion, a backlog freed after repl-backlog-ttl
// without replicas), and a copy kept in one library's state could then
// differ from another's (the connector's claims and the authority's
// install are two libraries), leaving one refusing every lease the other
// installs. INFO's replication section is the short one.
//
// take_seq(counter, lease) returns the next seq and the lease's ceiling, or
// false when the room needs a new lease (Renew).
const prelude = `
local run
local function run_id()
  if not run then run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') end
  return run .. ':' .. string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)')
end

local function take_seq(counter, lease)
  local l = redis.call('HMGET', lease, 'ceil', 'run')
  local n = tonumber(redis.call('GET', counter))
  local ceil = tonumber(l[1])
  if not n or l[2] ~= run_id() or n >= ceil then return false end
  return redis.call('INCR', counter), ceil
end
`

// Library is a Redis Functions library of functions that take seqs: each
// body is Lua run as function(KEYS, ARGV) after the prelude, so it may call
// run_id() and take_seq(). A function, unlike an EVAL script, has a state
// that lasts between calls, which is what lets the run_id be read once.
//
// The library's name carries a hash of its code, so two versions of the
// connector during a rolling upgrade each call their own, never each
// other's.
type Library struct {
	name  string
	code  string
	names map[string]string // function -> its registered name
}

// NewLibrary returns the library of the given functions (name -> body).
func NewLibrary(functions map[string]string) *Library {
	fns := slices.Sorted(maps.Keys(functions))
	h := sha256.New()
	io.WriteString(h, prelude)
	for _, fn := range fns {
		io.WriteString(h, fn+"\x00"+functions[fn]+"\x00")
	}
	l := &Library{name: "parley_seqs_" + hex.EncodeToString(h.Sum(nil)[:8]), names: map[string]string{}}
	code := "#!lua name=" + l.name + "\n" + prelude
	for _, fn := range fns {
		l.names[fn] = l.name + "_" + fn
		code += "\nredis.register_function('" + l.names[fn] + "', function(KEYS, ARGV)\n" + functions[fn] + "\nend)\n"
	}
	l.code = code
	return l
}

// fcaller is a client or a pipeline.
type fcaller interface {
	FCall(ctx context.Context, function string, keys []string, args ...any) *redis.Cmd
}

// FCall queues a call of fn on c. A server that does not have the library
// answers an error for which Missing is true; Call loads it and calls
// again.
func (l *Library) FCall(ctx context.Context, c fcaller, fn string, keys []string, args ...any) *redis.Cmd {
	name, ok := l.names[fn]
	if !ok {
		panic("seqs: library has no function " + fn)
	}
	return c.FCall(ctx, name, keys, args...)
}

// Call calls fn, loading the library first where the server lacks it (a
// new server, a restart without persistence, a node added to a cluster).
func (l *Library) Call(ctx context.Context, rdb redis.UniversalClient, fn string, keys []string, args ...any) *redis.Cmd {
	cmd := l.FCall(ctx, rdb, fn, keys, args...)
	if !Missing(cmd.Err()) {
		return cmd
	}
	if err := l.Load(ctx, rdb); err != nil {
		cmd.SetErr(err)
		return cmd
	}
	return l.FCall(ctx, rdb, fn, keys, args...)
}

// Missing reports whether err is a server's answer that it has no such
// function.
func Missing(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Function not found")
}

// Load puts the library on the server, or on every master of a cluster.
func (l *Library) Load(ctx context.Context, rdb redis.UniversalClient) error {
	load := func(ctx context.Context, c *redis.Client) error {
		err := c.FunctionLoad(ctx, l.code).Err()
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("seqs: load Redis function library %s: %w", l.name, err)
		}
		return nil
	}
	if cluster, ok := rdb.(*redis.ClusterClient); ok {
		return cluster.ForEachMaster(ctx, load)
	}
	c, ok := rdb.(*redis.Client)
	if !ok {
		return fmt.Errorf("seqs: cannot load functions through a %T", rdb)
	}
	return load(ctx, c)
}
