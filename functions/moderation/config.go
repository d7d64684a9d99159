package main

import "github.com/parley-chat/parley/knative/ksvc"

// config is moderation's environment (see the command's doc), read once
// by configFromEnv. MONGO_URI and MONGO_DB are read by knative/stores.
type config struct {
	modelDir, backend, onnxruntimeLib string
	// thresholds is MODERATION_THRESHOLDS as given: parseThresholds checks
	// it against the labels of the model once it is loaded.
	thresholds             string
	brokerURL, brokerToken string
}

func configFromEnv(getenv func(string) string) (config, error) {
	env := ksvc.NewEnv(getenv)
	c := config{
		modelDir: env.Required("MODEL_DIR"), backend: getenv("MODEL_BACKEND"), onnxruntimeLib: getenv("ONNXRUNTIME_LIB"),
		thresholds: getenv("MODERATION_THRESHOLDS"),
		brokerURL:  getenv("BROKER_URL"), brokerToken: getenv(ksvc.BrokerTokenFileEnv),
	}
	env.Required("MONGO_URI")
	return c, env.Err()
}
