package validate

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// redisCluster is what REDIS_CLUSTER=1 make deploy applies of the cluster:
// the nodes' StatefulSet and Service and the Job that forms the cluster.
type redisCluster struct {
	nodes   appsv1.StatefulSet
	service corev1.Service
	job     batchv1.Job
}

func renderRedisCluster(t *testing.T) ([]byte, redisCluster) {
	t.Helper()
	stream, objs := renderOverlay(t, "minikube-redis-cluster")
	var rc redisCluster
	found := 0
	for _, o := range objs {
		var into any
		switch {
		case o.Kind == "StatefulSet" && o.Name == "redis":
			into = &rc.nodes
		case o.Kind == "Service" && o.APIVersion == "v1" && o.Name == "redis":
			into = &rc.service
		case o.Kind == "Job" && o.Name == "redis-cluster":
			into = &rc.job
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(o.Raw, into); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		found++
	}
	if found != 3 {
		t.Fatalf("found %d of the redis StatefulSet, Service and the redis-cluster Job", found)
	}
	return stream, rc
}

// TestRedisClusterOverlayIsValid validates the Minikube overlay with Redis
// as a cluster, and checks that the Job names exactly the StatefulSet's
// pods, at the names the headless Service gives them.
func TestRedisClusterOverlayIsValid(t *testing.T) {
	stream, rc := renderRedisCluster(t)
	if err := Stream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	if rc.service.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service redis has clusterIP %q: pods get their own DNS names only behind a headless Service", rc.service.Spec.ClusterIP)
	}
	if rc.nodes.Spec.ServiceName != rc.service.Name {
		t.Errorf("StatefulSet redis names Service %q, not %q", rc.nodes.Spec.ServiceName, rc.service.Name)
	}
	replicas := int(*rc.nodes.Spec.Replicas)
	if replicas < 3 {
		t.Errorf("%d nodes: a Redis Cluster needs 3 masters", replicas)
	}
	var want []string
	for i := range replicas {
		want = append(want, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:6379", rc.nodes.Name, i, rc.service.Name, rc.nodes.Namespace))
	}
	if got := strings.Fields(jobEnv(t, rc.job, "NODES")); !slices.Equal(got, want) {
		t.Errorf("the Job forms the cluster of %v, want the StatefulSet's pods %v", got, want)
	}
	args := strings.Join(rc.nodes.Spec.Template.Spec.Containers[0].Args, " ")
	for _, a := range []string{"--cluster-enabled yes", "--cluster-config-file /data/", "--masterauth $(REDIS_PASSWORD)",
		"--cluster-announce-hostname $(POD_NAME)." + rc.service.Name + "." + rc.nodes.Namespace + ".svc.cluster.local"} {
		if !strings.Contains(args, a) {
			t.Errorf("the nodes' arguments lack %q: %s", a, args)
		}
	}
}

// TestRedisClusterJobFormsTheCluster runs the Job's script, as the manifest
// has it, against redis-server processes started with the StatefulSet's
// own arguments, one per pod: it forms a cluster with every slot covered
// and a synced replica beside each master, and run again it changes
// nothing. A master killed then fails over to its replica with the data
// written to it; with the lost node back, the Job run again changes
// nothing. Every node restarted at a new address (pods rescheduled), the
// Job makes the cluster whole again.
func TestRedisClusterJobFormsTheCluster(t *testing.T) {
	k := newJobCluster(t)
	k.form(nil)
	k.healthy("after the Job")
	ids := k.ids()
	slots := k.slotMasters()
	k.form(nil) // a deploy again
	k.healthy("after the Job ran again")
	k.sameIDs(ids, "when the Job ran on a formed cluster")
	if again := k.slotMasters(); again != slots {
		t.Fatalf("the slots moved when the Job ran on a formed cluster:\n%s\nthen\n%s", slots, again)
	}

	// A master dies with a key its replica acknowledged (WAIT): the
	// replica takes over its slots, and has the key.
	const key = "failover-probe"
	owner := k.servedBy(key)
	if owner == nil {
		t.Fatal("no node serves the probe key")
	}
	if got := strings.TrimSpace(k.cli(owner.addr, "set", key, "kept")); got != "OK" {
		t.Fatalf("set the probe key: %q", got)
	}
	if got := strings.TrimSpace(k.cli(owner.addr, "wait", strconv.Itoa(k.perMaster), "5000")); got != strconv.Itoa(k.perMaster) {
		t.Fatalf("%s's replicas acknowledged the write %s times, want %d", owner.addr, got, k.perMaster)
	}
	owner.stop()
	survivor := k.nodes[0]
	if survivor == owner {
		survivor = k.nodes[1]
	}
	deadline := time.Now().Add(time.Minute)
	var promoted *redisNode
	for promoted = k.servedBy(key); promoted == nil || !strings.Contains(k.cli(survivor.addr, "cluster", "info"), "cluster_state:ok\n"); promoted = k.servedBy(key) {
		if time.Now().After(deadline) {
			t.Fatalf("no failover a minute after master %s died:\n%s", owner.addr, k.cli(survivor.addr, "cluster", "nodes"))
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster's own failure detection
	}
	if got := strings.TrimSpace(k.cli(promoted.addr, "get", key)); got != "kept" {
		t.Fatalf("after the failover the probe key reads %q on %s, want \"kept\"", got, promoted.addr)
	}
	// The lost node comes back (a pod restarted on its volume) and the
	// Job runs again (a deploy): the cluster is whole, with every slot
	// still on one master and its replica.
	owner.start(t)
	k.form(nil)
	k.healthy("after a failover and the Job again")
	k.sameIDs(ids, "across the failover")
	if strings.Contains(k.cli(owner.addr, "info", "replication"), "role:master\n") {
		t.Fatalf("%s came back as a master of nothing; want it a replica of the master that took over", owner.addr)
	}

	// Every pod rescheduled at once: each node comes back on its volume at
	// an address where the others knew another node (here the next node's
	// port, there a pod IP reused). The Job meets them again; the cluster
	// is whole, every replica syncing from its own master, the key kept.
	old := make([]string, len(k.nodes))
	for i, n := range k.nodes {
		n.stop()
		old[i] = n.addr
	}
	for i, n := range k.nodes {
		n.addr = old[(i+1)%len(old)]
		n.start(t)
	}
	k.form(nil)
	k.healthy("after every node moved and the Job ran")
	k.sameIDs(ids, "when every node moved")
	if got := strings.TrimSpace(k.cli(k.servedBy(key).addr, "get", key)); got != "kept" {
		t.Fatalf("after every node moved the probe key reads %q, want \"kept\"", got)
	}
}

// A cluster deployed before it had replicas (three masters) gains them
// when the StatefulSet grows: the Job makes the new, empty nodes the
// replicas of the masters, one each.
func TestRedisClusterJobGivesAFormedClusterItsReplicas(t *testing.T) {
	k := newJobCluster(t)
	first := k.nodes[:k.masters]
	k.form(first, "REPLICAS=0")
	k.form(nil)
	k.healthy("after the Job with new nodes")
	for _, n := range first {
		if !strings.Contains(k.cli(n.addr, "info", "replication"), "role:master\n") {
			t.Errorf("%s, a master before, is not one now", n.addr)
		}
	}
}

// The StatefulSet grown by a shard's pods: the Job makes one of them a
// master and the others its replicas, and moves the new master its share
// of the slots with their keys. Run again, it moves nothing.
func TestRedisClusterJobGrowsTheClusterByAShard(t *testing.T) {
	k := newJobCluster(t)
	k.form(nil)
	keys := map[string]bool{}
	for i := range 64 {
		key := "grow-probe-" + strconv.Itoa(i)
		if got := strings.TrimSpace(k.cli(k.servedBy(key).addr, "set", key, "kept")); got != "OK" {
			t.Fatalf("set %s: %q", key, got)
		}
		keys[key] = true
	}
	old := slices.Clone(k.nodes)
	k.grow(k.perMaster + 1)
	k.form(nil)
	k.healthy("after the Job with a new shard's pods")
	slots := k.slotMasters()
	for master, n := range k.slotsHeld() {
		if least := 16384 / k.masters * 9 / 10; n < least {
			t.Errorf("master %s holds %d slots, want at least %d of %d masters' 16384:\n%s", master, n, least, k.masters, slots)
		}
	}
	moved := 0
	for key := range keys {
		owner := k.servedBy(key)
		if got := strings.TrimSpace(k.cli(owner.addr, "get", key)); got != "kept" {
			t.Fatalf("after the cluster grew %s reads %q on %s, want \"kept\"", key, got, owner.addr)
		}
		if !slices.Contains(old, owner) {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("none of %d keys moved to the new master", len(keys))
	}
	k.form(nil)
	if again := k.slotMasters(); again != slots {
		t.Fatalf("the slots moved when the Job ran on the grown cluster:\n%s\nthen\n%s", slots, again)
	}
}

// A slot's move cut short (the Job's pod lost between marking the slot
// and moving its keys) leaves it open on both masters; the Job run again
// finishes the move, the key kept.
func TestRedisClusterJobFinishesASlotMoveCutShort(t *testing.T) {
	k := newJobCluster(t)
	k.form(nil)
	const key = "move-probe"
	from := k.servedBy(key)
	if got := strings.TrimSpace(k.cli(from.addr, "set", key, "kept")); got != "OK" {
		t.Fatalf("set the probe key: %q", got)
	}
	ids := k.ids()
	var to *redisNode
	for _, n := range k.nodes {
		if n != from && strings.Contains(k.cli(n.addr, "info", "replication"), "role:master\n") {
			to = n
			break
		}
	}
	slot := strings.TrimSpace(k.cli(from.addr, "cluster", "keyslot", key))
	for _, step := range []struct {
		node *redisNode
		args []string
	}{
		{to, []string{"cluster", "setslot", slot, "importing", strings.TrimSpace(ids[from])}},
		{from, []string{"cluster", "setslot", slot, "migrating", strings.TrimSpace(ids[to])}},
	} {
		if got := strings.TrimSpace(k.cli(step.node.addr, step.args...)); got != "OK" {
			t.Fatalf("%v on %s: %q", step.args, step.node.addr, got)
		}
	}
	k.form(nil)
	k.healthy("after the Job on a slot left open")
	for _, n := range k.nodes { // a node lists its own open slots: [slot->-to] and [slot-<-from]
		if view := k.cli(n.addr, "cluster", "nodes"); strings.Contains(view, "->-") || strings.Contains(view, "-<-") {
			t.Fatalf("a slot is still open on %s:\n%s", n.addr, view)
		}
	}
	owner := k.servedBy(key)
	if got := strings.TrimSpace(k.cli(owner.addr, "get", key)); got != "kept" {
		t.Fatalf("after the move was finished the probe key reads %q on %s, want \"kept\"", got, owner.addr)
	}
}

// A replica and its master come back at each other's addresses (pods
// rescheduled, their IPs reused): each finds itself where it looked for
// the other, and the cluster forgets both addresses. The Job meets every
// node from the first, and the replica meets its master where the first
// has it: the replica syncs from its master again.
func TestRedisClusterJobReunitesAReplicaWithItsMasterAtSwappedAddresses(t *testing.T) {
	k := newJobCluster(t)
	k.form(nil)
	ids := k.ids()
	var replica, master *redisNode
	for _, n := range k.nodes[1:] { // not the first node, which the Job meets every other node from
		id, _ := k.masterOf(n)
		for _, m := range k.nodes[1:] {
			if id != "" && strings.TrimSpace(ids[m]) == id {
				replica, master = n, m
			}
		}
	}
	if replica == nil {
		t.Fatalf("no replica and master apart from the first node:\n%s", k.cli(k.nodes[0].addr, "cluster", "nodes"))
	}
	replica.stop()
	master.stop()
	replica.addr, master.addr = master.addr, replica.addr
	master.start(t)
	replica.start(t)
	k.form(nil)
	k.healthy("after a replica and its master swapped addresses")
	k.sameIDs(ids, "when a replica and its master swapped addresses")
}

// jobCluster is the redis-cluster Job's manifest and the redis-server
// processes it runs against, one per pod of the StatefulSet.
type jobCluster struct {
	t                  *testing.T
	set                appsv1.StatefulSet
	job                corev1.Container
	password           string
	nodes              []*redisNode
	masters, perMaster int
}

func newJobCluster(t *testing.T) *jobCluster {
	t.Helper()
	_, rc := renderRedisCluster(t)
	for _, bin := range []string{"redis-server", "redis-cli", "getent"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", bin, err)
		}
	}
	k := &jobCluster{t: t, set: rc.nodes, job: rc.job.Spec.Template.Spec.Containers[0], password: "test-password"}
	var err error
	if k.perMaster, err = strconv.Atoi(jobEnv(t, rc.job, "REPLICAS")); err != nil || k.perMaster < 1 {
		t.Fatalf("the Job's REPLICAS is %q: a master without a replica loses its slots when it fails", jobEnv(t, rc.job, "REPLICAS"))
	}
	k.grow(int(*rc.nodes.Spec.Replicas))
	return k
}

// grow starts n more of the StatefulSet's pods.
func (k *jobCluster) grow(n int) {
	k.t.Helper()
	for range n {
		k.nodes = append(k.nodes, startRedisNode(k.t, k.set, len(k.nodes), k.password))
	}
	k.masters = len(k.nodes) / (k.perMaster + 1)
}

// form runs the Job's script on nodes (all when nil), with the Job's own
// environment but for the nodes, the Secret's password and env.
func (k *jobCluster) form(nodes []*redisNode, env ...string) {
	k.t.Helper()
	if nodes == nil {
		nodes = k.nodes
	}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.job.Command[0], append(k.job.Command[1:], k.job.Args...)...)
	cmd.Env = os.Environ()
	for _, e := range k.job.Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	cmd.Env = append(append(cmd.Env, "NODES="+strings.Join(addrs, " "), "REDISCLI_AUTH="+k.password), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("the Job's script: %v\n%s", err, out)
	}
}

// try runs redis-cli on one node, without following redirections: the
// nodes announce host names that only the cluster's DNS knows.
func (k *jobCluster) try(node string, args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(node)
	cmd := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+k.password)
	out, err := cmd.Output()
	return strings.ReplaceAll(string(out), "\r", ""), err
}

func (k *jobCluster) cli(node string, args ...string) string {
	k.t.Helper()
	out, err := k.try(node, args...)
	if err != nil {
		k.t.Fatalf("redis-cli %v: %v", args, err)
	}
	return out
}

// servedBy is the node that serves key, if one does: the others redirect
// (redis-cli prints MOVED and exits 0), and none serves a slot whose master
// failed until its replica has taken over.
func (k *jobCluster) servedBy(key string) *redisNode {
	for _, n := range k.nodes {
		if n.srv.ProcessState != nil {
			continue // killed
		}
		if out, err := k.try(n.addr, "exists", key); err == nil && (out == "0\n" || out == "1\n") {
			return n
		}
	}
	return nil
}

// healthy checks what the Job promises: every node ok and agreeing on the
// nodes and masters, each master with its replicas, in sync.
func (k *jobCluster) healthy(when string) {
	k.t.Helper()
	for _, n := range k.nodes {
		info := k.cli(n.addr, "cluster", "info")
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384",
			"cluster_known_nodes:" + strconv.Itoa(len(k.nodes)), "cluster_size:" + strconv.Itoa(k.masters)} {
			if !strings.Contains(info, want+"\n") {
				k.t.Fatalf("%s %s: no %s in\n%s", n.addr, when, want, info)
			}
		}
		repl := k.cli(n.addr, "info", "replication")
		if strings.Contains(repl, "role:master\n") {
			continue
		}
		if !strings.Contains(repl, "master_link_status:up\n") {
			k.t.Fatalf("%s %s: a replica out of sync:\n%s", n.addr, when, repl)
		}
		// It syncs from its own master: the node its view names as such.
		master, at := k.masterOf(n)
		if !strings.Contains(repl, "master_host:127.0.0.1\n") || !strings.Contains(repl, "master_port:"+strings.TrimPrefix(at, "127.0.0.1:")+"\n") {
			k.t.Fatalf("%s %s: a replica of %s (at %s) syncing from elsewhere:\n%s", n.addr, when, master, at, repl)
		}
	}
	replicasOf := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(k.cli(k.nodes[0].addr, "cluster", "nodes")), "\n") {
		f := strings.Fields(line) // id addr flags master ...
		if strings.Contains(f[2], "slave") {
			replicasOf[f[3]]++
		}
	}
	if len(replicasOf) != k.masters {
		k.t.Fatalf("%s: %d masters have replicas, want %d:\n%s", when, len(replicasOf), k.masters, k.cli(k.nodes[0].addr, "cluster", "nodes"))
	}
	for master, n := range replicasOf {
		if n != k.perMaster {
			k.t.Fatalf("%s: master %s has %d replicas, want %d", when, master, n, k.perMaster)
		}
	}
}

// masterOf is the id and address of n's master in n's own view of the
// cluster; both are empty for a master.
func (k *jobCluster) masterOf(n *redisNode) (id, addr string) {
	k.t.Helper()
	view := strings.Split(strings.TrimSpace(k.cli(n.addr, "cluster", "nodes")), "\n")
	for _, line := range view {
		if f := strings.Fields(line); strings.Contains(f[2], "myself") && strings.Contains(f[2], "slave") {
			id = f[3]
		}
	}
	for _, line := range view {
		if f := strings.Fields(line); id != "" && f[0] == id {
			addr, _, _ = strings.Cut(f[1], "@")
		}
	}
	return id, addr
}

func (k *jobCluster) ids() map[*redisNode]string {
	ids := map[*redisNode]string{}
	for _, n := range k.nodes {
		ids[n] = k.cli(n.addr, "cluster", "myid")
	}
	return ids
}

func (k *jobCluster) sameIDs(ids map[*redisNode]string, when string) {
	k.t.Helper()
	for n, id := range k.ids() {
		if id != ids[n] {
			k.t.Fatalf("%s changed its id %s", n.addr, when)
		}
	}
}

// slotMasters is the masters and their slots, as CLUSTER NODES has them
// (CLUSTER SLOTS lists a replica only once it has gossip of its offset).
func (k *jobCluster) slotMasters() string {
	var masters []string
	for _, line := range strings.Split(strings.TrimSpace(k.cli(k.nodes[0].addr, "cluster", "nodes")), "\n") {
		if f := strings.Fields(line); strings.Contains(f[2], "master") && len(f) > 8 {
			masters = append(masters, f[0]+" "+strings.Join(f[8:], " "))
		}
	}
	slices.Sort(masters)
	return strings.Join(masters, "\n")
}

// slotsHeld is how many slots each master holds, by its id.
func (k *jobCluster) slotsHeld() map[string]int {
	held := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(k.cli(k.nodes[0].addr, "cluster", "nodes")), "\n") {
		f := strings.Fields(line)
		for _, r := range f[min(8, len(f)):] {
			from, to, ok := strings.Cut(r, "-")
			if !ok {
				to = from
			}
			a, errA := strconv.Atoi(from)
			b, errB := strconv.Atoi(to)
			if errA != nil || errB != nil {
				k.t.Fatalf("a slot range %q of %s that is not one (a slot left open?):\n%s", r, f[0], line)
			}
			held[f[0]] += b - a + 1
		}
	}
	return held
}

// redisNode is a redis-server run as one of the StatefulSet's pods: its
// arguments with the pod's name, password and volume put in.
type redisNode struct {
	addr string
	args []string // without the port
	srv  *exec.Cmd
	log  bytes.Buffer
}

func startRedisNode(t *testing.T, set appsv1.StatefulSet, i int, password string) *redisNode {
	t.Helper()
	dir := t.TempDir()
	n := &redisNode{}
	for _, a := range set.Spec.Template.Spec.Containers[0].Args {
		a = strings.ReplaceAll(a, "$(REDIS_PASSWORD)", password)
		a = strings.ReplaceAll(a, "$(POD_NAME)", set.Name+"-"+strconv.Itoa(i))
		a = strings.ReplaceAll(a, "/data/", dir+"/") // the volume's mount
		n.args = append(n.args, a)
	}
	n.args = append(n.args, "--bind", "127.0.0.1", "--dir", dir)
	n.addr = "127.0.0.1:" + strconv.Itoa(freePortPair(t))
	n.start(t)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("redis-server %s:\n%s", n.addr, n.log.String())
		}
	})
	return n
}

func (n *redisNode) start(t *testing.T) {
	t.Helper()
	_, port, _ := net.SplitHostPort(n.addr)
	n.srv = exec.Command("redis-server", append(n.args, "--port", port)...)
	n.srv.Stdout, n.srv.Stderr = &n.log, &n.log
	if err := n.srv.Start(); err != nil {
		t.Fatal(err)
	}
}

// stop kills the node as a lost pod dies: no shutdown, no save.
func (n *redisNode) stop() {
	if n.srv.ProcessState == nil {
		n.srv.Process.Kill()
		n.srv.Wait()
	}
}

func jobEnv(t *testing.T, job batchv1.Job, name string) string {
	t.Helper()
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			return e.Value
		}
	}
	t.Fatalf("the Job sets no %s", name)
	return ""
}

// freePortPair returns a port that is free on 127.0.0.1, with its cluster
// bus port (port + 10000) free too.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		port := 10000 + rand.IntN(12700) // the bus, port + 10000, below the ephemeral ports (32768+)
		a, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	t.Fatal("no free port pair")
	return 0
}
