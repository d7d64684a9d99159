package main

import (
	"strings"
	"testing"
)

func TestConfigFromEnvNamesWhatIsMissing(t *testing.T) {
	_, err := configFromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "MODEL_DIR is required") || !strings.Contains(err.Error(), "MONGO_URI is required") {
		t.Fatalf("empty environment: %v", err)
	}
	vars := map[string]string{"MODEL_DIR": "/m/toxic", "MONGO_URI": "mongodb://x", "MODEL_BACKEND": "go",
		"MODERATION_THRESHOLDS": "toxic=0.8", "BROKER_URL": "http://broker", "BROKER_TOKEN_FILE": "/t"}
	c, err := configFromEnv(func(k string) string { return vars[k] })
	if err != nil || c.modelDir != "/m/toxic" || c.backend != "go" || c.thresholds != "toxic=0.8" ||
		c.brokerURL != "http://broker" || c.brokerToken != "/t" {
		t.Fatalf("read %+v, %v", c, err)
	}
}
