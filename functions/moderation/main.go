// Command moderation classifies every parley.message.sent with a Hugging
// Face transformer (ONNX) and, when a label's score reaches its threshold,
// replies parley.message.flagged: persist hides the message and every client
// in the room sees it redacted. Moderators review flags over gRPC (through
// the connector's REST API) and restore or confirm them; every decision is
// audited.
//
// Environment:
//
//	MODEL_DIR              model.onnx, tokenizer.json, config.json (required)
//	MODEL_BACKEND          onnxruntime or go (onnxruntime when ONNXRUNTIME_LIB is set)
//	ONNXRUNTIME_LIB        path of libonnxruntime.so
//	MODERATION_THRESHOLDS  label=score pairs, e.g. toxic=0.8,threat=0.6 (every label 0.5 by default)
//	MONGO_URI, MONGO_DB    flags and the audit log (required; parley)
//	BROKER_URL             where restorations are sent (required for Decide)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-chat/parley/functions/moderation/internal/classify"
	"github.com/parley-chat/parley/knative/ksvc"
	"github.com/parley-chat/parley/knative/stores"
	moderationv1 "github.com/parley-chat/parley/proto/parley/moderation/v1"
)

func main() {
	ksvc.Main("moderation", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		return build(ctx, os.Getenv, log)
	})
}

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (ksvc.Service, error) {
	cfg, err := configFromEnv(getenv)
	if err != nil {
		return ksvc.Service{}, err
	}
	begin := time.Now()
	clf, err := classify.Open(cfg.modelDir, cfg.backend, cfg.onnxruntimeLib)
	if err != nil {
		return ksvc.Service{}, err
	}
	log.Info("model loaded", "model", cfg.modelDir, "backend", clf.Backend(), "labels", clf.Labels(),
		"load_ms", time.Since(begin).Milliseconds())
	thresholds, err := parseThresholds(cfg.thresholds, clf.Labels())
	if err != nil {
		clf.Close()
		return ksvc.Service{}, err
	}
	reg := prometheus.NewRegistry()
	mc, db, err := stores.New(reg).OpenMongo(getenv)
	if err != nil {
		clf.Close()
		return ksvc.Service{}, err
	}
	st := newStore(db)
	b := newBatcher(clf, 32, 5*time.Millisecond)
	flags := newFlagBatcher(st)
	f := &function{batcher: b, flags: flags, store: st, labels: clf.Labels(), thresholds: thresholds,
		model: filepath.Base(filepath.Clean(cfg.modelDir)), log: log, metrics: newMetrics(reg)}
	rev, err := newReviewer(st, cfg.brokerURL, cfg.brokerToken, log)
	if err != nil {
		mc.Disconnect(context.Background())
		clf.Close()
		return ksvc.Service{}, err
	}
	g := ksvc.NewGRPCServer()
	moderationv1.RegisterModerationServiceServer(g, rev)
	start, stop := ksvc.Loops(st.ensureIndexes, func(ctx context.Context) error {
		return errors.Join(clf.Close(), mc.Disconnect(ctx))
	}, b.Run, flags.Run)
	return ksvc.Service{
		Events:   f.Handle,
		GRPC:     g,
		Registry: reg,
		Start:    start,
		Stop:     stop,
	}, nil
}

// parseThresholds reads label=score pairs; labels not named get 0.5.
func parseThresholds(s string, labels []string) (map[string]float32, error) {
	out := map[string]float32{}
	for _, l := range labels {
		out[l] = 0.5
	}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		label, v, ok := strings.Cut(pair, "=")
		f, err := strconv.ParseFloat(v, 32)
		if _, known := out[label]; !ok || err != nil || f <= 0 || f > 1 || !known {
			return nil, fmt.Errorf("MODERATION_THRESHOLDS: %q: want label=score with a label of the model (%v) and 0 < score <= 1", pair, labels)
		}
		out[label] = float32(f)
	}
	return out, nil
}
