package devstack

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// The local S3 store must be what production stores are to Parley: it
// checks SigV4 signatures, holds a presigned upload to the content type and
// length it was signed for, lets a presigned download lapse, and answers a
// browser's CORS preflight for the web origin only.
func TestSeaweedFSServesSignedAndPresignedS3(t *testing.T) {
	ctx := context.Background()
	const origin = "http://localhost:18080"
	cfg := testConfig(t, stateDir(t), nil)
	cfg.Components = S3Store
	cfg.S3AllowedOrigins = []string{origin}
	s := up(t, cfg)
	defer s.Close()
	c := s3Client(t, s.S3)

	body := []byte("\x89PNG\r\n")
	put, err := c.PresignHeader(ctx, http.MethodPut, s.S3.Bucket, "rooms/r1/f1", time.Minute, nil, http.Header{
		"Content-Type": {"image/png"}, "Content-Length": {strconv.Itoa(len(body))}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		contentType string
		body        []byte
	}{
		"another content type": {"text/html", body},
		"a longer body":        {"image/png", append(bytes.Clone(body), "more"...)},
	} {
		if status := do(t, http.MethodPut, put.String(), tc.contentType, tc.body, nil); status != http.StatusForbidden {
			t.Errorf("presigned PUT with %s: status %d, want 403", name, status)
		}
	}
	if _, err := c.StatObject(ctx, s.S3.Bucket, "rooms/r1/f1", minio.StatObjectOptions{}); err == nil {
		t.Fatal("a refused upload was stored")
	}
	if status := do(t, http.MethodPut, put.String(), "image/png", body, nil); status != http.StatusOK {
		t.Fatalf("presigned PUT as signed: status %d", status)
	}
	info, err := c.StatObject(ctx, s.S3.Bucket, "rooms/r1/f1", minio.StatObjectOptions{})
	if err != nil || info.Size != int64(len(body)) || info.ContentType != "image/png" {
		t.Fatalf("stored %+v, %v", info, err)
	}

	get, err := c.PresignedGetObject(ctx, s.S3.Bucket, "rooms/r1/f1", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := getURL(t, get.String()); v != string(body) {
		t.Fatalf("presigned GET: %q", v)
	}
	// A presigned URL lapses: poll until it is refused, for at most a few
	// seconds past its expiry (clocks count whole seconds).
	deadline := time.Now().Add(5 * time.Second)
	for do(t, http.MethodGet, get.String(), "", nil, nil) != http.StatusForbidden {
		if time.Now().After(deadline) {
			t.Fatal("a presigned GET still works 5 s after it expired")
		}
		time.Sleep(100 * time.Millisecond)
	}

	wrong := s.S3
	wrong.SecretKey = "not-" + wrong.SecretKey
	if _, err := s3Client(t, wrong).StatObject(ctx, s.S3.Bucket, "rooms/r1/f1", minio.StatObjectOptions{}); err == nil {
		t.Error("a wrong secret was accepted")
	}
	if status := do(t, http.MethodGet, s.S3.Endpoint+"/"+s.S3.Bucket+"/rooms/r1/f1", "", nil, nil); status != http.StatusForbidden {
		t.Errorf("anonymous GET: status %d, want 403", status)
	}

	preflight := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"PUT"},
		"Access-Control-Request-Headers": {"content-type"}}
	var allowed string
	do(t, http.MethodOptions, put.String(), "", nil, preflight, func(r *http.Response) { allowed = r.Header.Get("Access-Control-Allow-Origin") })
	if allowed != origin {
		t.Errorf("CORS preflight from the web origin: Access-Control-Allow-Origin %q", allowed)
	}
	preflight.Set("Origin", "https://elsewhere.example")
	allowed = ""
	do(t, http.MethodOptions, put.String(), "", nil, preflight, func(r *http.Response) { allowed = r.Header.Get("Access-Control-Allow-Origin") })
	if allowed != "" {
		t.Errorf("CORS preflight from another origin: Access-Control-Allow-Origin %q", allowed)
	}
}

func s3Client(t *testing.T, s S3) *minio.Client {
	t.Helper()
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getObject(t *testing.T, c *minio.Client, bucket, key string) string {
	t.Helper()
	o, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func getURL(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", redact(u), resp.Status, b)
	}
	return string(b)
}

// do sends one request and returns its status.
func do(t *testing.T, method, u, contentType string, body []byte, h http.Header, inspect ...func(*http.Response)) int {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	for _, f := range inspect {
		f(resp)
	}
	return resp.StatusCode
}

// redact drops a presigned URL's signature from test output.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "?"
	}
	return strings.SplitN(p.String(), "?", 2)[0]
}
