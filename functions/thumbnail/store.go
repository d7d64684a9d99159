package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// store reads images from the S3 bucket and writes thumbnails beside them.
type store struct {
	s3     *minio.Client
	bucket string
}

var errNoObject = errors.New("no such object")

func newStore(c config) (*store, error) {
	u, err := url.Parse(c.endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("thumbnail: S3_ENDPOINT %q is not a URL", c.endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(c.accessKey, c.secretKey, ""),
		Secure: u.Scheme == "https", Region: c.region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, fmt.Errorf("thumbnail: S3 client: %w", err)
	}
	return &store{s3: client, bucket: c.bucket}, nil
}

// read returns an object's bytes, at most limit of them: an object larger
// than its message said is refused, not read.
func (s *store) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	o, err := s.s3.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("thumbnail: get %s: %w", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, limit+1))
	if resp := minio.ToErrorResponse(err); err != nil && resp.StatusCode == http.StatusNotFound {
		return nil, errNoObject
	}
	if err != nil {
		return nil, fmt.Errorf("thumbnail: read %s: %w", key, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("thumbnail: %s is over %d bytes", key, limit)
	}
	return b, nil
}

// writeBeside writes the thumbnail of the file at original, then checks
// the file is still there: deleting a message removes its file before its
// thumbnail, so a thumbnail written after that delete finds the file gone,
// removes itself and returns errNoObject, and one written before it is
// removed by the delete. Either way none outlives its file.
func (s *store) writeBeside(ctx context.Context, original, key string, jpeg []byte) error {
	_, err := s.s3.PutObject(ctx, s.bucket, key, bytes.NewReader(jpeg), int64(len(jpeg)),
		minio.PutObjectOptions{ContentType: "image/jpeg", CacheControl: "private, max-age=86400"})
	if err != nil {
		return fmt.Errorf("thumbnail: put %s: %w", key, err)
	}
	_, err = s.s3.StatObject(ctx, s.bucket, original, minio.StatObjectOptions{})
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
		return fmt.Errorf("thumbnail: stat %s: %w", original, err)
	}
	if err := s.remove(ctx, key); err != nil {
		return err
	}
	return errNoObject
}

// remove deletes an object; one already gone is fine.
func (s *store) remove(ctx context.Context, key string) error {
	if err := s.s3.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return fmt.Errorf("thumbnail: remove %s: %w", key, err)
	}
	return nil
}

func (s *store) ready(ctx context.Context) error {
	ok, err := s.s3.BucketExists(ctx, s.bucket)
	if err == nil && !ok {
		err = fmt.Errorf("bucket %s does not exist", s.bucket)
	}
	return err
}
