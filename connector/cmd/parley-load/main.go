// Command parley-load runs a load test against a Parley connector and
// prints a table and JSON. Example, against `make run`:
//
//	go run ./connector/cmd/parley-load -url http://127.0.0.1:8080 -clients 1000 -rooms 10 -publishers 10 -rate 50 -duration 10s
//
// The connector limits sends to 10/s per user by default; raise
// WS_SEND_RATE/WS_SEND_BURST on it for publishers faster than that.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/parley-chat/parley/connector/loadgen"
)

func main() {
	var cfg loadgen.Config
	jsonOut := flag.String("json", "", "also write the result as JSON to this file")
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "connector base URL")
	flag.IntVar(&cfg.Clients, "clients", 1000, "WebSocket clients")
	flag.IntVar(&cfg.Rooms, "rooms", 10, "rooms")
	flag.IntVar(&cfg.Publishers, "publishers", 10, "publishing clients")
	flag.Float64Var(&cfg.Rate, "rate", 50, "messages per second per publisher")
	flag.DurationVar(&cfg.Duration, "duration", 0, "publishing time (default 10s)")
	flag.IntVar(&cfg.Users, "users", 0, "distinct accounts (default clients/10)")
	flag.StringVar(&cfg.Prefix, "prefix", "load", "account name prefix")
	flag.BoolVar(&cfg.Idle, "idle", false, "connect and stay idle (memory per connection)")
	flag.StringVar(&cfg.MetricsURL, "metrics", "", "connector /metrics URL, to report its memory")
	minRatio := flag.Float64("min-ratio", 0, "exit 3 when fewer than this share of expected deliveries arrive (smoke tests use 1)")
	flag.Parse()
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
func Print(w *os.File, r loadgen.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "clients\t%d in %d rooms, %d publishers at %.0f msg/s\n", r.Clients, r.Rooms, r.Publishers, r.Rate)
	fmt.Fprintf(tw, "published/s\t%.0f (%d acked sends, %d errors)\n", r.PublishedPerSecond, r.Published, r.SendErrors)
	fmt.Fprintf(tw, "delivered/s\t%.0f\n", r.DeliveredPerSecond)
	fmt.Fprintf(tw, "delivery ratio\t%.4f (%d of %d)\n", r.DeliveryRatio, r.Delivered, r.Expected)
	fmt.Fprintf(tw, "latency ms\tp50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	fmt.Fprintf(tw, "connect ms\tp50 %.2f  p99 %.2f\n", r.ConnectMS.P50, r.ConnectMS.P99)
	fmt.Fprintf(tw, "load generator CPU\t%.2f cores\n", r.LoadgenCPUCores)
	fmt.Fprintf(tw, "machine CPU busy\t%.2f cores\n", r.MachineBusyCores)
	if r.ServerBytesPerConnection > 0 {
		fmt.Fprintf(tw, "server memory\t%.1f KB per connection\n", r.ServerBytesPerConnection/1024)
	}
	tw.Flush()
}
