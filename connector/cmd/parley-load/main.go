// Command parley-load runs a load test against a Parley connector and
// prints a table and JSON. Example, against `make run`:
//
//	go run ./connector/cmd/parley-load -url http://127.0.0.1:8080 -clients 1000 -rooms 10 -publishers 10 -rate 50 -duration 10s
//
// The connector limits sends to 10/s per user by default; raise
// WS_SEND_RATE/WS_SEND_BURST on it for publishers faster than that, and
// WS_SOCKETS_PER_USER (32) for more than 32 clients per account (-users).
//
// With -socket-urls it spreads the sockets over several connectors behind
// one Redis, each room's members dealt round them (loadgen.Spread), so
// every message crosses Redis pub/sub to each (make bench-peers' scale
// scenario); -socket-pids reports each one's CPU.
//
// With -server centrifugo it drives a Centrifugo server the same way, for
// comparison (make bench-peers): it signs the clients' connection tokens
// with the HMAC key in CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY, the
// variable Centrifugo reads it from (an environment variable, not a flag,
// so ps does not show it).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/parley-chat/parley/connector/loadgen"
)

func main() {
	var cfg loadgen.Config
	jsonOut := flag.String("json", "", "also write the result as JSON to this file")
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL")
	flag.StringVar(&cfg.Server, "server", loadgen.ServerParley, "the server's protocol: parley or centrifugo")
	flag.IntVar(&cfg.TextSize, "text-size", 0, "characters per message (default 100)")
	flag.StringVar(&cfg.SocketProcess, "socket-process", "", "process name of the socket server, for its CPU (default connector, or centrifugo)")
	flag.IntVar(&cfg.Clients, "clients", 1000, "WebSocket clients")
	flag.IntVar(&cfg.Rooms, "rooms", 10, "rooms")
	flag.IntVar(&cfg.Publishers, "publishers", 10, "publishing clients")
	flag.Float64Var(&cfg.Rate, "rate", 50, "messages per second per publisher")
	flag.DurationVar(&cfg.Duration, "duration", 0, "measured publishing time (default 10s)")
	flag.DurationVar(&cfg.Warmup, "warmup", 0, "publishing before the measured time, left out of the numbers (default 2s; negative for none)")
	flag.IntVar(&cfg.StackPID, "stack-pid", 0, "pid whose process tree holds the servers, for their CPU (default: the parley-dev process, else servers by name)")
	flag.IntVar(&cfg.Users, "users", 0, "distinct accounts (default clients/10)")
	flag.StringVar(&cfg.Prefix, "prefix", "load", "account name prefix")
	flag.BoolVar(&cfg.Idle, "idle", false, "connect and stay idle (memory per connection)")
	flag.StringVar(&cfg.MetricsURL, "metrics", "", "connector /metrics URL, to report its memory")
	socketURLs := flag.String("socket-urls", "", "comma-separated servers to spread the sockets over, each room's members dealt round them (default: -url)")
	flag.BoolVar(&cfg.ByRoom, "by-room", false, "with -socket-urls, put each room's members on one server (room mod servers)")
	socketPIDs := flag.String("socket-pids", "", "comma-separated pids of the socket servers, to report each one's CPU")
	minRatio := flag.Float64("min-ratio", 0, "exit 3 when fewer than this share of expected deliveries arrive (smoke tests use 1)")
	flag.Parse()
	if *socketURLs != "" {
		cfg.SocketURLs = strings.Split(*socketURLs, ",")
	}
	if *socketPIDs != "" {
		for _, f := range strings.Split(*socketPIDs, ",") {
			pid, err := strconv.Atoi(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "parley-load: -socket-pids:", err)
				os.Exit(2)
			}
			cfg.SocketPIDs = append(cfg.SocketPIDs, pid)
		}
	}
	if k := os.Getenv("CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY"); k != "" {
		cfg.TokenKey = []byte(k)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-load:", err)
		os.Exit(1)
	}
	Print(os.Stdout, res)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "parley-load:", err)
			os.Exit(1)
		}
	}
	if *minRatio > 0 && (res.Published == 0 || res.DeliveryRatio < *minRatio) {
		fmt.Fprintf(os.Stderr, "parley-load: delivered %d of %d expected (ratio %.3f < %.3f)\n", res.Delivered, res.Expected, res.DeliveryRatio, *minRatio)
		os.Exit(3)
	}
}

// Print writes a result as a table.
func Print(w io.Writer, r loadgen.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d in %d rooms, %d publishers at %.0f msg/s\n", r.Clients, r.Rooms, r.Publishers, r.Rate)
	fmt.Fprintf(tw, "measured\t%.1f s after a %.1f s warm-up\n", r.DurationSeconds, r.WarmupSeconds)
	fmt.Fprintf(tw, "sends\t%d asked, %d written (%.0f/s), %d acked (%.0f/s), %d rejected%s, %d write errors, %d unanswered\n",
		r.Asked, r.Offered, r.OfferedPerSecond, r.Published, r.PublishedPerSecond, total(r.Rejected), byCode(r.Rejected),
		r.SendErrors, r.Unanswered)
	if r.Offered < r.Asked || r.MaxLagMS > 1000/r.Rate {
		fmt.Fprintf(tw, "pace\tNOT KEPT: publishers fell up to %.1f ms behind schedule and left %d of %d sends unsent\n",
			r.MaxLagMS, r.Asked-r.Offered, r.Asked)
	}
	fmt.Fprintf(tw, "delivered/s\t%.0f\n", r.DeliveredPerSecond)
	fmt.Fprintf(tw, "delivery ratio\t%.4f (%d of %d)\n", r.DeliveryRatio, r.Delivered, r.Expected)
	fmt.Fprintf(tw, "latency ms\tp50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Fprintf(tw, "connect ms\tp50 %.2f  p99 %.2f\n", r.ConnectMS.P50, r.ConnectMS.P99)
	fmt.Fprintf(tw, "load generator CPU\t%.2f cores\n", r.LoadgenCPUCores)
	fmt.Fprintf(tw, "machine CPU busy\t%.2f cores\n", r.MachineBusyCores)
	if r.ProcessCPUCores != nil {
		fmt.Fprintf(tw, "server CPU\t%.2f cores, of which the socket server %.2f (%s)\n", r.StackCPUCores, r.ConnectorCPUCores, r.StackFoundBy)
		names := slices.Sorted(maps.Keys(r.ProcessCPUCores))
		slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(r.ProcessCPUCores[b], r.ProcessCPUCores[a]) })
		for _, n := range names {
			fmt.Fprintf(tw, "  %s\t%.3f cores\n", n, r.ProcessCPUCores[n])
		}
	} else {
		fmt.Fprintf(tw, "server CPU\tunknown (%s)\n", r.StackFoundBy)
	}
	for i, cores := range r.SocketCPUCores {
		fmt.Fprintf(tw, "socket server %d\t%.3f cores\n", i+1, cores)
	}
	if len(r.Sockets) > 1 {
		fmt.Fprintf(tw, "sockets per server\t%v\n", r.Sockets)
	}
	if r.ServerBytesPerConnection > 0 {
		fmt.Fprintf(tw, "server memory\t%.1f KB per connection\n", r.ServerBytesPerConnection/1024)
	}
	tw.Flush()
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// byCode lists rejections by error code, e.g. " (rate_limited 31)".
func byCode(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", code, m[code]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
