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
// has it, against three redis-server processes started with the
// StatefulSet's own arguments: it forms a cluster with every slot covered,
// and run again it changes nothing.
func TestRedisClusterJobFormsTheCluster(t *testing.T) {
	_, rc := renderRedisCluster(t)
	for _, bin := range []string{"redis-server", "redis-cli", "getent"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", bin, err)
		}
	}
	const password = "test-password"
	var nodes []string
	for i := range 3 {
		port := freePortPair(t)
		dir := t.TempDir()
		var args []string
		for _, a := range rc.nodes.Spec.Template.Spec.Containers[0].Args {
			a = strings.ReplaceAll(a, "$(REDIS_PASSWORD)", password)
			a = strings.ReplaceAll(a, "$(POD_NAME)", rc.nodes.Name+"-"+strconv.Itoa(i))
			a = strings.ReplaceAll(a, "/data/", dir+"/") // the volume's mount
			args = append(args, a)
		}
		args = append(args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir)
		srv := exec.Command("redis-server", args...)
		var log bytes.Buffer
		srv.Stdout, srv.Stderr = &log, &log
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			srv.Process.Kill()
			srv.Wait()
			if t.Failed() {
				t.Logf("redis-server %d:\n%s", port, log.String())
			}
		})
		nodes = append(nodes, "127.0.0.1:"+strconv.Itoa(port))
	}
	c := rc.job.Spec.Template.Spec.Containers[0]
	form := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.Command[0], append(c.Command[1:], c.Args...)...)
		cmd.Env = append(os.Environ(), "NODES="+strings.Join(nodes, " "), "REDISCLI_AUTH="+password)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the Job's script: %v\n%s", err, out)
		}
		return string(out)
	}
	cli := func(node string, args ...string) string {
		t.Helper()
		host, port, _ := net.SplitHostPort(node)
		cmd := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...)
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+password)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("redis-cli %v: %v", args, err)
		}
		return strings.ReplaceAll(string(out), "\r", "")
	}
	form()
	ids := map[string]string{}
	for _, n := range nodes {
		info := cli(n, "cluster", "info")
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"} {
			if !strings.Contains(info, want+"\n") {
				t.Fatalf("%s after the Job: no %s in\n%s", n, want, info)
			}
		}
		ids[n] = cli(n, "cluster", "myid")
	}
	slots := cli(nodes[0], "cluster", "slots")
	form() // a deploy again
	for _, n := range nodes {
		if !strings.Contains(cli(n, "cluster", "info"), "cluster_state:ok\n") || cli(n, "cluster", "myid") != ids[n] {
			t.Fatalf("%s changed when the Job ran on a formed cluster", n)
		}
	}
	if again := cli(nodes[0], "cluster", "slots"); again != slots {
		t.Fatalf("the slots moved when the Job ran on a formed cluster:\n%s\nthen\n%s", slots, again)
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
