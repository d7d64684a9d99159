package main

import (
	"github.com/parley-chat/parley/knative/ksvc"
)

// config is the function's environment, read once.
type config struct {
	endpoint, bucket, region string
	accessKey, secretKey     string
}

func configFromEnv(getenv func(string) string) (config, error) {
	env := ksvc.NewEnv(getenv)
	c := config{endpoint: env.Required("S3_ENDPOINT"), bucket: env.String("S3_BUCKET", "parley-files"),
		region: env.String("S3_REGION", "us-east-1"), accessKey: env.Required("S3_ACCESS_KEY_ID"),
		secretKey: env.Required("S3_SECRET_ACCESS_KEY")}
	return c, env.Err()
}
