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
// and a synced replica beside each master; a master killed then fails over
// to its replica with the data written to it; run again, on the failed-over
// cluster with the lost node back, the Job changes nothing.
func TestRedisClusterJobFormsTheCluster(t *testing.T) {
	_, rc := renderRedisCluster(t)
	for _, bin := range []string{"redis-server", "redis-cli", "getent"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", bin, err)
		}
	}
	const password = "test-password"
	pods := int(*rc.nodes.Spec.Replicas)
	perMaster, err := strconv.Atoi(jobEnv(t, rc.job, "REPLICAS"))
	if err != nil || perMaster < 1 {
		t.Fatalf("the Job's REPLICAS is %q: a master without a replica loses its slots when it fails", jobEnv(t, rc.job, "REPLICAS"))
	}
	masters := pods / (perMaster + 1)
	nodes := make([]*redisNode, pods)
	for i := range nodes {
		nodes[i] = startRedisNode(t, rc.nodes, i, password)
	}
	addrs := make([]string, pods)
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	c := rc.job.Spec.Template.Spec.Containers[0]
	form := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.Command[0], append(c.Command[1:], c.Args...)...)
		cmd.Env = os.Environ()
		for _, e := range c.Env { // as the manifest sets them, but the nodes and the Secret's password
			if e.ValueFrom == nil {
				cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
			}
		}
		cmd.Env = append(cmd.Env, "NODES="+strings.Join(addrs, " "), "REDISCLI_AUTH="+password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the Job's script: %v\n%s", err, out)
		}
		return string(out)
	}
	// try runs redis-cli on one node, without following redirections: the
	// nodes announce host names that only the cluster's DNS knows.
	try := func(node string, args ...string) (string, error) {
		host, port, _ := net.SplitHostPort(node)
		cmd := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
		out, err := cmd.Output()
		return strings.ReplaceAll(string(out), "\r", ""), err
	}
	cli := func(node string, args ...string) string {
		t.Helper()
		out, err := try(node, args...)
		if err != nil {
			t.Fatalf("redis-cli %v: %v", args, err)
		}
		return out
	}
	// servedBy is the node that serves key, if one does: the others
	// redirect (redis-cli prints MOVED and exits 0), and none serves a
	// slot whose master failed until its replica has taken over.
	servedBy := func(key string) *redisNode {
		for _, n := range nodes {
			if n.srv.ProcessState != nil {
				continue // killed
			}
			if out, err := try(n.addr, "exists", key); err == nil && (out == "0\n" || out == "1\n") {
				return n
			}
		}
		return nil
	}
	// healthy checks what the Job promises: every node ok and agreeing on
	// the nodes and masters, each master with its replicas, in sync.
	healthy := func(when string) {
		t.Helper()
		for _, n := range addrs {
			info := cli(n, "cluster", "info")
			for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384",
				"cluster_known_nodes:" + strconv.Itoa(pods), "cluster_size:" + strconv.Itoa(masters)} {
				if !strings.Contains(info, want+"\n") {
					t.Fatalf("%s %s: no %s in\n%s", n, when, want, info)
				}
			}
			if repl := cli(n, "info", "replication"); !strings.Contains(repl, "role:master\n") &&
				!strings.Contains(repl, "master_link_status:up\n") {
				t.Fatalf("%s %s: a replica out of sync:\n%s", n, when, repl)
			}
		}
		replicasOf := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(cli(addrs[0], "cluster", "nodes")), "\n") {
			f := strings.Fields(line) // id addr flags master ...
			if strings.Contains(f[2], "slave") {
				replicasOf[f[3]]++
			}
		}
		if len(replicasOf) != masters {
			t.Fatalf("%s: %d masters have replicas, want %d:\n%s", when, len(replicasOf), masters, cli(addrs[0], "cluster", "nodes"))
		}
		for master, n := range replicasOf {
			if n != perMaster {
				t.Fatalf("%s: master %s has %d replicas, want %d", when, master, n, perMaster)
			}
		}
	}
	form()
	healthy("after the Job")
	ids := map[string]string{}
	for _, n := range addrs {
		ids[n] = cli(n, "cluster", "myid")
	}
	// The masters and their slots, as CLUSTER NODES has them (CLUSTER SLOTS
	// lists a replica only once it has gossip of its offset).
	slotMasters := func() string {
		var masters []string
		for _, line := range strings.Split(strings.TrimSpace(cli(addrs[0], "cluster", "nodes")), "\n") {
			if f := strings.Fields(line); strings.Contains(f[2], "master") && len(f) > 8 {
				masters = append(masters, f[0]+" "+strings.Join(f[8:], " "))
			}
		}
		slices.Sort(masters)
		return strings.Join(masters, "\n")
	}
	slots := slotMasters()
	form() // a deploy again
	healthy("after the Job ran again")
	for _, n := range addrs {
		if cli(n, "cluster", "myid") != ids[n] {
			t.Fatalf("%s changed its id when the Job ran on a formed cluster", n)
		}
	}
	if again := slotMasters(); again != slots {
		t.Fatalf("the slots moved when the Job ran on a formed cluster:\n%s\nthen\n%s", slots, again)
	}

	// A master dies with a key its replica acknowledged (WAIT): the
	// replica takes over its slots, and has the key.
	const key = "failover-probe"
	owner := servedBy(key)
	if owner == nil {
		t.Fatal("no node serves the probe key")
	}
	if got := strings.TrimSpace(cli(owner.addr, "set", key, "kept")); got != "OK" {
		t.Fatalf("set the probe key: %q", got)
	}
	if got := strings.TrimSpace(cli(owner.addr, "wait", strconv.Itoa(perMaster), "5000")); got != strconv.Itoa(perMaster) {
		t.Fatalf("%s's replicas acknowledged the write %s times, want %d", owner.addr, got, perMaster)
	}
	owner.stop()
	survivor := addrs[0]
	if survivor == owner.addr {
		survivor = addrs[1]
	}
	deadline := time.Now().Add(time.Minute)
	var promoted *redisNode
	for promoted = servedBy(key); promoted == nil || !strings.Contains(cli(survivor, "cluster", "info"), "cluster_state:ok\n"); promoted = servedBy(key) {
		if time.Now().After(deadline) {
			t.Fatalf("no failover a minute after master %s died:\n%s", owner.addr, cli(survivor, "cluster", "nodes"))
		}
		time.Sleep(100 * time.Millisecond) // polling the cluster's own failure detection
	}
	if got := strings.TrimSpace(cli(promoted.addr, "get", key)); got != "kept" {
		t.Fatalf("after the failover the probe key reads %q on %s, want \"kept\"", got, promoted.addr)
	}
	// The lost node comes back (a pod restarted on its volume) and the
	// Job runs again (a deploy): the cluster is whole, with every slot
	// still on one master and its replica.
	owner.start(t)
	form()
	healthy("after a failover and the Job again")
	for _, n := range addrs {
		if cli(n, "cluster", "myid") != ids[n] {
			t.Fatalf("%s changed its id across the failover", n)
		}
	}
	if strings.Contains(cli(owner.addr, "info", "replication"), "role:master\n") {
		t.Fatalf("%s came back as a master of nothing; want it a replica of the master that took over", owner.addr)
	}
}

// redisNode is a redis-server run as one of the StatefulSet's pods: its
// arguments with the pod's name, password and volume put in.
type redisNode struct {
	addr string
	args []string
	srv  *exec.Cmd
	log  bytes.Buffer
}

func startRedisNode(t *testing.T, set appsv1.StatefulSet, i int, password string) *redisNode {
	t.Helper()
	port := freePortPair(t)
	dir := t.TempDir()
	n := &redisNode{addr: "127.0.0.1:" + strconv.Itoa(port)}
	for _, a := range set.Spec.Template.Spec.Containers[0].Args {
		a = strings.ReplaceAll(a, "$(REDIS_PASSWORD)", password)
		a = strings.ReplaceAll(a, "$(POD_NAME)", set.Name+"-"+strconv.Itoa(i))
		a = strings.ReplaceAll(a, "/data/", dir+"/") // the volume's mount
		n.args = append(n.args, a)
	}
	n.args = append(n.args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir)
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
	n.srv = exec.Command("redis-server", n.args...)
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
		port := 20000 + rand.IntN(20000)
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
