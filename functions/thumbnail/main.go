// Command thumbnail is the function that makes image thumbnails. From its
// Trigger it takes parley.file.uploaded (a message carries an image): it
// reads the image from the S3 store, refuses one whose header promises a
// bitmap over eventsv1.MaxImagePixels (a decompression bomb) before
// decoding it, writes a JPEG of at most eventsv1.ThumbnailSize pixels a
// side beside it, and replies parley.file.thumbnailed, which persist notes
// on the message and shows to the room. It scales to zero: images are
// rare beside text, and no file bytes pass through Kafka, only their keys.
//
// Environment (config.go): S3_ENDPOINT, S3_ACCESS_KEY_ID,
// S3_SECRET_ACCESS_KEY (required), S3_BUCKET (parley-files), S3_REGION
// (us-east-1).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/parley-chat/parley/knative/ksvc"
)

func main() {
	ksvc.Main("thumbnail", func(ctx context.Context, log *slog.Logger) (ksvc.Service, error) {
		cfg, err := configFromEnv(os.Getenv)
		if err != nil {
			return ksvc.Service{}, err
		}
		st, err := newStore(cfg)
		if err != nil {
			return ksvc.Service{}, err
		}
		f := &function{store: st, log: log}
		return ksvc.Service{
			Events: f.Handle,
			Ready:  st.ready,
		}, nil
	})
}
