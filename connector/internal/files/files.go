// Package files is the connector's side of file sharing: it hands out
// presigned URLs of the S3 object store, so that file bytes go from the
// browser to the store and back without passing through the connector or
// Kafka, and it checks an upload before a message may carry it. The
// store's own signature checks hold the upload to the size and type the
// connector allowed; membership is checked by the callers (gateway, ws).
package files

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/redis/go-redis/v9"

	eventsv1 "github.com/parley-chat/parley/proto/parley/events/v1"
)

// Config says where the store is. Zero durations get the defaults in comments.
type Config struct {
	// Endpoint is the store's URL as the connector reaches it; PublicURL as
	// browsers do (presigned URLs are signed for that host). Default
	// PublicURL is Endpoint.
	Endpoint, PublicURL  string
	Bucket, Region       string
	AccessKey, SecretKey string
	// UploadTTL is how long an upload URL works (5m); DownloadTTL a
	// download URL (5m): short, as a link that leaks soon stops working.
	UploadTTL, DownloadTTL time.Duration
	// AttachTTL is how long an upload may wait for a message to carry it
	// (24h, counted from the upload URL): a draft left open, not forever.
	// Uploads no message carried by then are swept from the store.
	AttachTTL time.Duration
	// UserBytesPerDay bounds the bytes of the upload URLs one user is given
	// in a UTC day, on every connector together (1 GiB): the per-file
	// limits and the upload rate alone would let one account fill the
	// store at 2 files a second.
	UserBytesPerDay int64
}

// Store is safe for concurrent use.
type Store struct {
	cfg      Config
	internal *minio.Client // the connector's requests (HEAD)
	public   *minio.Client // presigning only: never makes a request
	origin   string
	// pending is the connector's Redis: where uploads wait for a message
	// (sweep.go), and what their users were given today (quota.go).
	pending redis.UniversalClient
	now     func() time.Time
}

// ErrRefused wraps every reason a file is refused for; its message is for
// people. A reason from the limits is wrapped too, so eventsv1.ErrFileTooLarge
// and eventsv1.ErrFileType match where they are why.
var ErrRefused = errors.New("file refused")

// ErrNotFound is a file that is not in the store (or not of that room).
var ErrNotFound = errors.New("no such file")

// New returns a store that keeps its uploads waiting for a message in
// pending (the connector's Redis); it makes no request.
func New(cfg Config, pending redis.UniversalClient) (*Store, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" || cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("files: the endpoint, bucket and login are required")
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.Endpoint
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // set, so presigning never asks the store for the bucket's region
	}
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = 5 * time.Minute
	}
	if cfg.DownloadTTL == 0 {
		cfg.DownloadTTL = 5 * time.Minute
	}
	if cfg.AttachTTL == 0 {
		cfg.AttachTTL = 24 * time.Hour
	}
	if cfg.UserBytesPerDay == 0 {
		cfg.UserBytesPerDay = 1 << 30
	}
	if cfg.UserBytesPerDay < eventsv1.MaxFileBytes {
		return nil, fmt.Errorf("files: a user's %d bytes a day would not fit one file of the largest allowed (%d)",
			cfg.UserBytesPerDay, eventsv1.MaxFileBytes)
	}
	if cfg.AttachTTL <= cfg.UploadTTL {
		return nil, fmt.Errorf("files: an upload may wait %s for a message, no longer than its URL works (%s): it could land after the sweep",
			cfg.AttachTTL, cfg.UploadTTL)
	}
	if pending == nil {
		return nil, errors.New("files: a Redis for the uploads waiting for a message is required")
	}
	s := &Store{cfg: cfg, pending: pending, now: time.Now}
	var err error
	if s.internal, err = client(cfg, cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("files: S3_ENDPOINT: %w", err)
	}
	if s.public, err = client(cfg, cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("files: S3_PUBLIC_URL: %w", err)
	}
	u, _ := url.Parse(cfg.PublicURL)
	s.origin = u.Scheme + "://" + u.Host
	return s, nil
}

func client(cfg Config, raw string) (*minio.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https", Region: cfg.Region, BucketLookup: minio.BucketLookupPath})
}

// Origin is where browsers reach the store (for the CSP).
func (s *Store) Origin() string { return s.origin }

// Upload is a presigned upload: PUT the file's bytes to URL with exactly
// these headers before ExpiresAt.
type Upload struct {
	ID        string            `json:"id"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// PresignUpload checks a file against the limits and returns a URL that
// uploads it once to the room's part of the bucket. The signature covers
// the content type, the length and who uploads it, so the store refuses
// any other file.
func (s *Store) PresignUpload(ctx context.Context, roomID, userID, name string, size int64, contentType string) (Upload, error) {
	if err := eventsv1.CheckFile(name, size, contentType); err != nil {
		return Upload{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if err := s.charge(ctx, userID, size); err != nil {
		return Upload{}, err
	}
	id := uuid.Must(uuid.NewV7()).String()
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set(eventsv1.MetaOwner, userID)
	h.Set(eventsv1.MetaName, url.PathEscape(name))
	u, err := s.public.PresignHeader(ctx, http.MethodPut, s.cfg.Bucket, eventsv1.FileKey(roomID, id), s.cfg.UploadTTL, nil, h)
	if err != nil {
		return Upload{}, fmt.Errorf("files: presign upload: %w", err)
	}
	if err := s.await(ctx, roomID, id); err != nil {
		return Upload{}, err
	}
	headers := map[string]string{}
	for k := range h {
		if k != "Content-Length" { // browsers set it themselves, and refuse to be told
			headers[k] = h.Get(k)
		}
	}
	return Upload{ID: id, URL: u.String(), Method: http.MethodPut, Headers: headers,
		ExpiresAt: s.now().Add(s.cfg.UploadTTL).UTC()}, nil
}

// Attach returns the attachment of a finished upload to the room by
// userID, read from the store (never from the client): its name, size and
// type as the store has them, checked against the limits again. The send
// then claims its uploads (Claim).
func (s *Store) Attach(ctx context.Context, roomID, userID, fileID string) (eventsv1.Attachment, error) {
	if err := eventsv1.ValidFileID(fileID); err != nil {
		return eventsv1.Attachment{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	info, err := s.stat(ctx, eventsv1.FileKey(roomID, fileID))
	if errors.Is(err, ErrNotFound) && s.swept(ctx, roomID, fileID) {
		return eventsv1.Attachment{}, s.tooLate(fileID)
	}
	if errors.Is(err, ErrNotFound) {
		return eventsv1.Attachment{}, fmt.Errorf("%w: file %s was not uploaded to this room", ErrRefused, fileID)
	}
	if err != nil {
		return eventsv1.Attachment{}, err
	}
	if info.UserMetadata["Owner"] != userID {
		return eventsv1.Attachment{}, fmt.Errorf("%w: file %s was uploaded by someone else", ErrRefused, fileID)
	}
	name, err := url.PathUnescape(info.UserMetadata["Name"])
	if err != nil {
		return eventsv1.Attachment{}, fmt.Errorf("%w: file %s has no valid name", ErrRefused, fileID)
	}
	contentType, _, _ := strings.Cut(info.ContentType, ";")
	a := eventsv1.Attachment{ID: fileID, Name: name, Size: info.Size, ContentType: strings.TrimSpace(contentType)}
	if err := a.Check(); err != nil {
		return eventsv1.Attachment{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return a, nil
}

func (s *Store) stat(ctx context.Context, key string) (minio.ObjectInfo, error) {
	info, err := s.internal.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusNotFound {
			return info, ErrNotFound
		}
		return info, fmt.Errorf("files: stat %s: %w", key, err)
	}
	return info, nil
}

// Download is a presigned download URL.
type Download struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PresignDownload returns a short-lived URL of a room's file, or of its
// thumbnail. A file that is not an image is served as an attachment (never
// shown inline by the browser) under its own name.
func (s *Store) PresignDownload(ctx context.Context, roomID, fileID string, thumbnail bool) (Download, error) {
	if eventsv1.ValidFileID(fileID) != nil {
		return Download{}, ErrNotFound
	}
	key := eventsv1.FileKey(roomID, fileID)
	if thumbnail {
		key = eventsv1.ThumbnailKey(roomID, fileID)
	}
	info, err := s.stat(ctx, key)
	if err != nil {
		return Download{}, err
	}
	params := url.Values{}
	if !thumbnail {
		name, _ := url.PathUnescape(info.UserMetadata["Name"])
		disposition := "attachment"
		contentType, _, _ := strings.Cut(info.ContentType, ";")
		if eventsv1.Image(strings.TrimSpace(contentType)) {
			disposition = "inline"
		}
		params.Set("response-content-disposition", disposition+"; filename*=UTF-8''"+url.PathEscape(name))
	}
	u, err := s.public.PresignedGetObject(ctx, s.cfg.Bucket, key, s.cfg.DownloadTTL, params)
	if err != nil {
		return Download{}, fmt.Errorf("files: presign download: %w", err)
	}
	return Download{URL: u.String(), ExpiresAt: s.now().Add(s.cfg.DownloadTTL).UTC()}, nil
}

// Remove deletes files of a room and their thumbnails from the store, so
// nothing of a deleted message can be downloaded any more, even by a
// member who kept its file id. A file or thumbnail already gone is fine.
func (s *Store) Remove(ctx context.Context, roomID string, fileIDs []string) error {
	var errs []error
	for _, id := range fileIDs {
		if eventsv1.ValidFileID(id) != nil {
			continue
		}
		for _, key := range []string{eventsv1.FileKey(roomID, id), eventsv1.ThumbnailKey(roomID, id)} {
			if err := s.internal.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{}); err != nil &&
				minio.ToErrorResponse(err).Code != "NoSuchKey" {
				errs = append(errs, fmt.Errorf("files: remove %s: %w", key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// EnsureBucket makes the bucket when it is missing (a new cluster's store);
// the login needs the right to create it, as Parley's has on its own store.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.internal.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("files: bucket %s: %w", s.cfg.Bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.internal.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region}); err != nil {
		return fmt.Errorf("files: make bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}
