// Package modelfetch installs a moderation model from the Hugging Face Hub:
// the files of one pinned commit, each checked before it is kept, into a
// model folder that appears complete or not at all. Only `make model` runs
// it; nothing downloads anything at run time.
package modelfetch

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/functions/moderation/internal/classify"
)

// File is one file of the model folder.
type File struct {
	Path string // in the repository at Revision
	As   string // name in the model folder
	// SHA256 of the content, for files stored with Git LFS (the weights),
	// as the Hub shows it. Files kept in Git itself have none: their
	// content is checked against the Git blob id the Hub reports for the
	// pinned commit.
	SHA256 string
}

// Source is a model pinned to one commit of a Hub repository.
type Source struct {
	Repo     string
	Revision string // a full commit id, never a branch
	Files    []File
	License  string
	MaxBytes int64 // per file
}

// ToxicMiniLM is the model `make model` installs: MiniLMv2-L6 fine-tuned on
// the Jigsaw toxic-comment data (labels toxic, severe_toxic, obscene,
// threat, insult, identity_hate), exported to ONNX and int8-quantized, so it
// runs on the onnxruntime backend.
var ToxicMiniLM = Source{
	Repo:     "minuva/MiniLMv2-toxic-jigsaw-onnx",
	Revision: "16573cd0cb7818b8f69530e085f803ddfac413a7",
	License:  "apache-2.0",
	MaxBytes: 64 << 20,
	Files: []File{
		{Path: "model_optimized_quantized.onnx", As: "model.onnx",
			SHA256: "bcd9dfb48cad802ac8f7cd789e1294f1f0b22d532797bd41f5a11694e3c269a0"},
		{Path: "tokenizer.json", As: "tokenizer.json"},
		{Path: "config.json", As: "config.json"},
	},
}

// Fetcher downloads from a Hub endpoint (https://huggingface.co, or a mirror).
type Fetcher struct {
	Endpoint string
	Client   *http.Client
}

// Install downloads src into dir, replacing what is there only once every
// file has been checked and the folder loads as a model.
func (f Fetcher) Install(ctx context.Context, src Source, dir string) error {
	if len(src.Revision) != 40 {
		return fmt.Errorf("modelfetch: revision %q is not a full commit id", src.Revision)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".fetch-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, file := range src.Files {
		if err := f.fetch(ctx, src, file, filepath.Join(tmp, file.As)); err != nil {
			return err
		}
	}
	if _, err := classify.LoadMeta(tmp); err != nil {
		return fmt.Errorf("modelfetch: downloaded files are not a usable model: %w", err)
	}
	provenance, _ := json.MarshalIndent(src, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "SOURCE.json"), append(provenance, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

func (f Fetcher) fetch(ctx context.Context, src Source, file File, to string) error {
	url := strings.TrimSuffix(f.Endpoint, "/") + "/" + src.Repo + "/resolve/" + src.Revision + "/" + file.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "identity") // the bytes as stored, which is what is checked
	// The Hub answers for the repository itself (commit, Git blob id) on
	// its first response; LFS content then comes from a redirect to a CDN.
	var hub http.Header
	client := *f.Client
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if hub == nil {
			hub = r.Response.Header
		}
		if len(via) > 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("modelfetch: %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("modelfetch: %s: %s", url, resp.Status)
	}
	if hub == nil {
		hub = resp.Header
	}
	if c := hub.Get("X-Repo-Commit"); c != "" && c != src.Revision {
		return fmt.Errorf("modelfetch: %s: the Hub served commit %s, not the pinned %s", url, c, src.Revision)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, src.MaxBytes+1))
	if err != nil {
		return fmt.Errorf("modelfetch: %s: %w", url, err)
	}
	if int64(len(body)) > src.MaxBytes {
		return fmt.Errorf("modelfetch: %s: larger than %d bytes", url, src.MaxBytes)
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return fmt.Errorf("modelfetch: %s: got %d of %d bytes", url, len(body), resp.ContentLength)
	}
	// Without a pinned checksum the content must match the Git blob id the
	// Hub reports for the file at the pinned commit.
	var got, want string
	if file.SHA256 != "" {
		sum := sha256.Sum256(body)
		got, want = hex.EncodeToString(sum[:]), file.SHA256
	} else {
		want = strings.Trim(strings.TrimPrefix(hub.Get("ETag"), "W/"), `"`)
		if len(want) != 40 {
			return fmt.Errorf("modelfetch: %s: the Hub reported no Git blob id to check the file against (ETag %q)", url, hub.Get("ETag"))
		}
		got = gitBlobID(body)
	}
	if got != want {
		return fmt.Errorf("modelfetch: %s: checksum %s, want %s: refusing the file", url, got, want)
	}
	return os.WriteFile(to, body, 0o644)
}

// gitBlobID is the id Git gives a file's content.
func gitBlobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultFetcher talks to huggingface.co (or HF_ENDPOINT) with generous
// but finite timeouts.
func DefaultFetcher() Fetcher {
	endpoint := "https://huggingface.co"
	if e := os.Getenv("HF_ENDPOINT"); e != "" {
		endpoint = e
	}
	return Fetcher{Endpoint: endpoint, Client: &http.Client{Timeout: 10 * time.Minute}}
}

// Describe is a one-line summary for logs.
func (s Source) Describe() string {
	return s.Repo + "@" + s.Revision[:12] + " (" + strconv.Itoa(len(s.Files)) + " files, " + s.License + ")"
}
