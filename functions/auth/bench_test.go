package main

import (
	"context"
	"slices"
	"testing"
	"time"

	authv1 "github.com/parley-chat/parley/proto/parley/auth/v1"
)

// BenchmarkLogin measures Login latency through gRPC against real
// PostgreSQL with the production argon2id parameters (DefaultArgon2).
func BenchmarkLogin(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	if _, err := e.client.Register(ctx, &authv1.RegisterRequest{Username: "bench", Email: "bench@example.com", Password: "correct horse bench"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var lat []time.Duration
		for range 100 {
			begin := time.Now()
			if _, err := e.client.Login(ctx, &authv1.LoginRequest{Login: "bench", Password: "correct horse bench"}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(begin))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[50].Microseconds())/1000, "login_p50_ms")
		b.ReportMetric(float64(lat[98].Microseconds())/1000, "login_p99_ms")
	}
}

// BenchmarkHashPassword is the argon2id cost alone, production parameters.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := hashPassword("correct horse battery staple", DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}
