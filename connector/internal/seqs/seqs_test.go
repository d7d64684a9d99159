package seqs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/connector/internal/redistest"
	"github.com/parley-chat/parley/connector/internal/seqs/seqstest"
	"github.com/parley-chat/parley/knative/devstack"
	"github.com/parley-chat/parley/knative/devstack/devstacktest"
	"github.com/parley-chat/parley/knative/stores"
	livev1 "github.com/parley-chat/parley/proto/parley/live/v1"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(devstacktest.Run(m, devstack.Redis, &stack))
}

func newAuthority(t testing.TB) (*Authority, redis.UniversalClient, *seqstest.Blocks) {
	t.Helper()
	rdb, err := stores.RedisURL(stack.RedisURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	b := &seqstest.Blocks{}
	return New(rdb, b, slog.New(slog.NewTextHandler(io.Discard, nil))), rdb, b
}

var takeLibrary = NewLibrary(map[string]string{"take": `
local seq = take_seq(KEYS[1], KEYS[2])
if not seq then return -1 end
return seq`})

// take is the smallest function built on take_seq: one seq, renewing as
// the connector's claim does.
func take(t testing.TB, a *Authority, room string) int64 {
	t.Helper()
	seq, err := tryTake(a, room)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func tryTake(a *Authority, room string) (int64, error) { return tryTakeWith(a, takeLibrary, room) }

// tryTakeWith takes a seq with lib's "take".
func tryTakeWith(a *Authority, lib *Library, room string) (int64, error) {
	ctx := context.Background()
	counter, lease := a.Keys(room)
	for range 3 {
		seq, err := lib.Call(ctx, a.rdb, "take", []string{counter, lease}).Int64()
		if err != nil || seq > 0 {
			return seq, err
		}
		if err := a.Renew(ctx, room); err != nil {
			return 0, err
		}
	}
	return 0, errors.New("no seq after renewing")
}

func TestSeqsAreNeverHandedOutTwiceWhateverRedisLoses(t *testing.T) {
	a, rdb, b := newAuthority(t)
	ctx := context.Background()
	room := uuid.NewString()
	taken := map[int64]bool{}
	takeSome := func(n int) (last int64) {
		for range n {
			seq := take(t, a, room)
			if taken[seq] || seq <= last {
				t.Fatalf("seq %d handed out again (or out of order after %d)", seq, last)
			}
			taken[seq], last = true, seq
		}
		return last
	}
	if first := takeSome(1); first != 1 {
		t.Fatalf("a new room's first seq is %d", first)
	}
	takeSome(1200) // across a block boundary: one more reservation, no gap
	if b.Calls() != 2 || !taken[1000] || !taken[1001] {
		t.Fatalf("%d reservations for 1201 seqs, want 2 and no gap at the boundary", b.Calls())
	}
	// Evicted.
	rdb.Del(ctx, livev1.SeqCounterKey(room), livev1.SeqLeaseKey(room))
	takeSome(5)
	// Rewound by a restart from an old snapshot: the lease names the old run.
	rdb.Set(ctx, livev1.SeqCounterKey(room), 3, 0)
	rdb.HSet(ctx, livev1.SeqLeaseKey(room), "run", "before-the-restart")
	takeSome(5)
	// Only the lease lost: the counter is still a floor.
	rdb.Del(ctx, livev1.SeqLeaseKey(room))
	takeSome(5)
	head, err := a.Head(ctx, room)
	if err != nil || !taken[head] {
		t.Fatalf("head %d (%v) is not the last seq taken", head, err)
	}
}

func TestHeadOfARoomWithoutALeaseIsAboveEverySeqBefore(t *testing.T) {
	a, rdb, _ := newAuthority(t)
	ctx := context.Background()
	room := uuid.NewString()
	var last int64
	for range 10 {
		last = take(t, a, room)
	}
	rdb.Del(ctx, livev1.SeqCounterKey(room), livev1.SeqLeaseKey(room))
	head, err := a.Head(ctx, room)
	if err != nil || head < last {
		t.Fatalf("head after a loss %d (%v), below seq %d handed out before", head, err, last)
	}
	if next := take(t, a, room); next != head+1 {
		t.Fatalf("after head %d came %d", head, next)
	}
}

// A seq at or below the counter is covered without a lease check (no
// reservation even when the lease is gone); one above the head is not.
func TestCoversAnswersFromTheCounterFirst(t *testing.T) {
	a, rdb, b := newAuthority(t)
	ctx := context.Background()
	room := uuid.NewString()
	for range 3 {
		take(t, a, room)
	}
	rdb.Del(ctx, livev1.SeqLeaseKey(room))
	calls := b.Calls()
	if head, ok, err := a.Covers(ctx, room, 2); err != nil || !ok || head != 3 || b.Calls() != calls {
		t.Fatalf("seq 2: head %d, covered %v, %v, %d reservations", head, ok, err, b.Calls()-calls)
	}
	if head, ok, err := a.Covers(ctx, room, 1<<40); err != nil || ok || head < 3 {
		t.Fatalf("seq 2^40: head %d, covered %v, %v", head, ok, err)
	}
}

func TestConcurrentTakesAreUnique(t *testing.T) {
	a, rdb, _ := newAuthority(t)
	room := uuid.NewString()
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if w == 0 && i == 150 {
					rdb.Del(context.Background(), livev1.SeqCounterKey(room), livev1.SeqLeaseKey(room)) // a loss mid-traffic
				}
				seq, err := tryTake(a, room)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[seq] {
					t.Errorf("seq %d twice", seq)
				}
				seen[seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// BenchmarkTake is what the lease costs a send: one seq taken inside a lease
// (take_seq) against a bare INCR, side by side on the same Redis. Besides the
// round trip (ns/op, noisy on a busy machine), it reports the CPU Redis
// spent per script call (redis-µs/op, from INFO commandstats).
func BenchmarkTake(b *testing.B) {
	a, rdb, _ := newAuthority(b)
	ctx := context.Background()
	room := uuid.NewString()
	incr := NewLibrary(map[string]string{"incr": `return redis.call('INCR', KEYS[1])`})
	measure := func(b *testing.B, op func()) {
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			op()
		}
		stats, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		var calls, usec float64
		for line := range strings.SplitSeq(stats, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_fcall:"); ok {
				for field := range strings.SplitSeq(rest, ",") {
					k, v, _ := strings.Cut(field, "=")
					n, _ := strconv.ParseFloat(v, 64)
					switch k {
					case "calls":
						calls = n
					case "usec":
						usec = n
					}
				}
			}
		}
		if calls > 0 {
			b.ReportMetric(usec/calls, "redis-µs/op")
		}
	}
	b.Run("incr", func(b *testing.B) {
		measure(b, func() {
			if err := incr.Call(ctx, rdb, "incr", []string{"bench:" + room}).Err(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("lease", func(b *testing.B) { measure(b, func() { take(b, a, room) }) })
}

// startRedis runs a redis-server of the test's own on dir (no persistence
// but an explicit SAVE) and returns a stop func; the client keeps working
// across stops and starts on the same port.
func startRedis(t *testing.T, dir string, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	t.Cleanup(stop)
	probe := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1})
	defer probe.Close()
	deadline := time.Now().Add(10 * time.Second)
	for probe.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return stop
}

// A real restart from an older snapshot, seen by a client that has not
// noticed it yet: the restored counter is behind the seqs handed out, and
// its lease names the server before the restart.
func TestARestartFromAnOlderSnapshotHandsOutNoSeqTwice(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is needed (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	stop := startRedis(t, dir, port)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer rdb.Close()
	a := New(rdb, &seqstest.Blocks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	room := uuid.NewString()
	var last int64
	for range 5 {
		last = take(t, a, room)
	}
	if err := rdb.Save(context.Background()).Err(); err != nil { // the snapshot the restart goes back to
		t.Fatal(err)
	}
	for range 5 {
		last = take(t, a, room)
	}
	stop()
	startRedis(t, dir, port)
	if n, _ := rdb.Get(context.Background(), livev1.SeqCounterKey(room)).Int64(); n >= last {
		t.Fatalf("the restart did not rewind the counter (%d, last seq %d)", n, last)
	}
	next, err := tryTake(a, room)
	for err != nil && strings.Contains(err.Error(), "EOF") { // the client's old connections die on first use
		next, err = tryTake(a, room)
	}
	if err != nil {
		t.Fatal(err)
	}
	if next <= last {
		t.Fatalf("after the restart came seq %d, handed out before (last was %d)", next, last)
	}
}

// The libraries that take seqs and the authority's own are each a Lua state
// of their own, loaded at different times. The server's replication id
// changes while it runs (here by becoming a replica of nothing and a master
// again; on a cluster, by a promotion), and every library still names the
// server alike: a library loaded after the change takes seqs under the
// lease the authority installs, above every seq before it.
func TestLibrariesLoadedApartAgreeOnTheServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	startRedis(t, t.TempDir(), port)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer rdb.Close()
	a := New(rdb, &seqstest.Blocks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	room := uuid.NewString()
	last := take(t, a, room) // loads the take library and the authority's
	ctx := context.Background()
	replid := func() string {
		info, _ := rdb.Info(ctx, "replication").Result()
		_, id, _ := strings.Cut(info, "master_replid:")
		return strings.TrimSpace(strings.SplitN(id, "\n", 2)[0])
	}
	before := replid()
	closed, err := net.Listen("tcp", "127.0.0.1:0") // a master that never answers
	if err != nil {
		t.Fatal(err)
	}
	_, closedPort, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()
	for _, args := range [][]any{{"replicaof", "127.0.0.1", closedPort}, {"replicaof", "no", "one"}} {
		if err := rdb.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if replid() == before {
		t.Fatal("the replication id did not change")
	}
	later := NewLibrary(map[string]string{"take": `
-- loaded after the server's replication id changed
local seq = take_seq(KEYS[1], KEYS[2])
if not seq then return -1 end
return seq`})
	next, err := tryTakeWith(a, later, room)
	if err != nil {
		t.Fatalf("a library loaded after the change takes no seq: %v", err)
	}
	if next <= last {
		t.Fatalf("seq %d after %d", next, last)
	}
	if again := take(t, a, room); again != next+1 {
		t.Fatalf("the first library took seq %d after %d", again, next)
	}
}

// The server's run_id is read once per library load, not on every take
// (each take reads the short replication section, for the replication id);
// a server that lost the library (FUNCTION FLUSH stands for a restart
// without persistence, or a node new to a cluster) gets it again on the
// next call.
func TestTheRunIsReadOnceAndALostLibraryIsLoadedAgain(t *testing.T) {
	a, rdb, _ := newAuthority(t)
	ctx := context.Background()
	room := uuid.NewString()
	take(t, a, room)
	var node redis.Cmdable = rdb // the server of the room's keys
	cluster, isCluster := rdb.(*redis.ClusterClient)
	if isCluster {
		master, err := cluster.MasterForKey(ctx, livev1.SeqCounterKey(room))
		if err != nil {
			t.Fatal(err)
		}
		node = master
	}
	infoCalls := func() int {
		stats, err := node.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(stats, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_info:calls="); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	before := infoCalls() // this INFO counts from the next call
	for range 20 {
		take(t, a, room)
	}
	if n := infoCalls() - before - 1; n != 20 {
		t.Fatalf("20 seqs taken called INFO %d times, want 20: the replication id each time, the run_id kept from the first", n)
	}
	if err := node.FunctionFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	last := take(t, a, room)
	if next := take(t, a, room); next != last+1 {
		t.Fatalf("after the library was loaded again: seq %d after %d", next, last)
	}
}

// laggingReplica is a real Redis Cluster of three masters and their
// replicas, with one room's seqs taken on its master while that master's
// replica was cut off (a wrong masterauth keeps it from syncing again): it
// returns the authority, the room, the room's master and that replica, and
// the last seq taken. The replica has the room's first seq only.
func laggingReplica(t *testing.T) (a *Authority, rdb redis.UniversalClient, room string, master, replica *redis.Client, last int64) {
	t.Helper()
	ctx := context.Background()
	cluster, err := devstack.Up(ctx, devstack.Config{StateDir: t.TempDir(), Components: devstack.Redis, RedisPort: -1,
		RedisClusterNodes: 3, RedisClusterReplicas: 1, Getenv: func(string) string { return "" },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	if rdb, err = stores.RedisURL(cluster.RedisURL, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	a = New(rdb, &seqstest.Blocks{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	room = uuid.NewString()
	counter, _ := a.Keys(room)
	take(t, a, room)
	if master, err = rdb.(*redis.ClusterClient).MasterForKey(ctx, counter); err != nil {
		t.Fatal(err)
	}
	if n, err := master.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("the replica acknowledged the first seq %d times (%v)", n, err)
	}
	// The replica, asked of every node: the client learns of a replica
	// only once CLUSTER SLOTS lists it, after gossip of its offset.
	u, err := url.Parse(cluster.RedisURL) // the first node, the others as addr=
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	for _, addr := range append(u.Query()["addr"], u.Host) {
		c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
		t.Cleanup(func() { c.Close() })
		if info, _ := c.Info(ctx, "replication").Result(); strings.Contains(info, "master_port:"+portOf(master)+"\r") {
			replica = c
		}
	}
	if replica == nil {
		t.Fatalf("no replica of %s", master.Options().Addr)
	}
	if err := replica.ConfigSet(ctx, "masterauth", "not-the-password").Err(); err != nil {
		t.Fatal(err)
	}
	if err := master.Do(ctx, "client", "kill", "type", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	redistest.Wait(t, func() (bool, string) {
		info, _ := replica.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:down"), info
	})
	for range 5 {
		last = take(t, a, room)
	}
	return a, rdb, room, master, replica, last
}

// takeOver promotes node (CLUSTER FAILOVER TAKEOVER) and waits until the
// client reads the room's counter from it, which it returns: the old master
// hears of the takeover by gossip, and a loaded machine may take seconds.
func takeOver(t *testing.T, rdb redis.UniversalClient, node *redis.Client, counter string) int64 {
	t.Helper()
	ctx := context.Background()
	if err := node.Do(ctx, "cluster", "failover", "takeover").Err(); err != nil {
		t.Fatal(err)
	}
	var want int64
	redistest.WaitFor(t, 30*time.Second, func() (bool, string) { // a replica answers MOVED until it is the master
		var err error
		want, err = node.Get(ctx, counter).Int64()
		return err == nil, fmt.Sprint(err)
	})
	redistest.WaitFor(t, 30*time.Second, func() (bool, string) {
		got, err := rdb.Get(ctx, counter).Int64()
		return err == nil && got == want, fmt.Sprintf("the client reads %d (%v), the new master has %d", got, err, want)
	})
	return want
}

// A failover to a replica that lagged: its counter is behind, and its lease
// names the old master's run, so the next seq comes from a new block.
func TestAFailoverToALaggingReplicaHandsOutNoSeqTwice(t *testing.T) {
	a, rdb, room, _, replica, last := laggingReplica(t)
	counter, _ := a.Keys(room)
	if n := takeOver(t, rdb, replica, counter); n >= last {
		t.Fatalf("the replica took over with counter %d, not behind the last seq %d", n, last)
	}
	next, err := tryTake(a, room)
	if err != nil {
		t.Fatal(err)
	}
	if next <= last {
		t.Fatalf("after the failover came seq %d, handed out before (last was %d)", next, last)
	}
}

// And back, with no send in the room meanwhile: the old master, not
// restarted, syncs the lagging replica's data as its replica (the lease in
// it still names the old master's run_id) and is promoted again. Its
// replication id is new, so the next seq still comes from a new block.
func TestAFailbackAfterALaggingReplicaHandsOutNoSeqTwice(t *testing.T) {
	a, rdb, room, master, replica, last := laggingReplica(t)
	counter, _ := a.Keys(room)
	ctx := context.Background()
	if n := takeOver(t, rdb, replica, counter); n >= last {
		t.Fatalf("the replica took over with counter %d, not behind the last seq %d", n, last)
	}
	redistest.WaitFor(t, 30*time.Second, func() (bool, string) {
		info, _ := master.Info(ctx, "replication").Result()
		return strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up"), info
	})
	takeOver(t, rdb, master, counter)
	next, err := tryTake(a, room)
	if err != nil {
		t.Fatal(err)
	}
	if next <= last {
		t.Fatalf("after the failback came seq %d, handed out before (last was %d)", next, last)
	}
}

func portOf(c *redis.Client) string {
	_, port, _ := net.SplitHostPort(c.Options().Addr)
	return port
}
