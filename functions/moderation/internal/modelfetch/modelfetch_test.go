package modelfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rev = "0123456789abcdef0123456789abcdef01234567"

// hub serves a repository the way huggingface.co does: Git files directly
// with their blob id as ETag, LFS files through a redirect to a CDN, the
// commit in X-Repo-Commit on the Hub's own responses.
type hub struct {
	git    map[string]string // path -> content
	lfs    map[string]string
	commit string
	noETag bool
	served map[string]string // content sent instead of the stored one (corrupted on the way)
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if cdn, ok := strings.CutPrefix(r.URL.Path, "/cdn/"); ok {
		w.Write([]byte(h.lfs[cdn]))
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/acme/toxic/resolve/"+rev+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Repo-Commit", h.commit)
	if c, ok := h.git[path]; ok {
		if !h.noETag {
			w.Header().Set("ETag", `"`+gitBlobID([]byte(c))+`"`)
		}
		if s, ok := h.served[path]; ok {
			c = s
		}
		w.Write([]byte(c))
		return
	}
	if c, ok := h.lfs[path]; ok {
		sum := sha256.Sum256([]byte(c))
		w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
		http.Redirect(w, r, "/cdn/"+path, http.StatusFound)
		return
	}
	http.NotFound(w, r)
}

const config = `{"id2label": {"0": "toxic", "1": "insult"}, "problem_type": "multi_label_classification"}`

func setup(t *testing.T) (*hub, Fetcher, Source) {
	h := &hub{commit: rev, git: map[string]string{"config.json": config, "tokenizer.json": `{"model": {}}`},
		lfs: map[string]string{"onnx/model_q.onnx": "weights"}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	weights := sha256.Sum256([]byte("weights"))
	src := Source{Repo: "acme/toxic", Revision: rev, License: "mit", MaxBytes: 1 << 20, Files: []File{
		{Path: "onnx/model_q.onnx", As: "model.onnx", SHA256: hex.EncodeToString(weights[:])},
		{Path: "tokenizer.json", As: "tokenizer.json"},
		{Path: "config.json", As: "config.json"},
	}}
	return h, Fetcher{Endpoint: srv.URL, Client: srv.Client()}, src
}

func TestInstallChecksEveryFileAndRecordsTheSource(t *testing.T) {
	_, f, src := setup(t)
	dir := filepath.Join(t.TempDir(), "models", "toxic")
	if err := f.Install(context.Background(), src, dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"model.onnx": "weights", "config.json": config} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	provenance, err := os.ReadFile(filepath.Join(dir, "SOURCE.json"))
	if err != nil || !strings.Contains(string(provenance), rev) {
		t.Errorf("SOURCE.json = %s, %v; want the pinned revision", provenance, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("left temporary folders behind: %v", entries)
	}
}

func TestGitBlobIDMatchesGit(t *testing.T) {
	// git hash-object of a file holding "hello\n".
	if got := gitBlobID([]byte("hello\n")); got != "ce013625030ba8dba906f756967f9e9ca394464a" {
		t.Errorf("gitBlobID = %s", got)
	}
}

func TestBadDownloadsLeaveTheInstalledModelAlone(t *testing.T) {
	cases := map[string]struct {
		tamper func(*hub, *Source)
		want   string
	}{
		"weights changed": {func(h *hub, _ *Source) { h.lfs["onnx/model_q.onnx"] = "evil" }, "checksum"},
		"other commit served": {func(h *hub, _ *Source) {
			h.commit = "fedcba9876543210fedcba9876543210fedcba98"
		}, "not the pinned"},
		"no blob id": {func(h *hub, _ *Source) { h.noETag = true }, "no Git blob id"},
		"text file corrupted": {func(h *hub, _ *Source) {
			h.served = map[string]string{"tokenizer.json": `{"model": {"x": 1}}`}
		}, "checksum"},
		"file missing":    {func(h *hub, _ *Source) { delete(h.git, "tokenizer.json") }, "404"},
		"too large":       {func(_ *hub, s *Source) { s.MaxBytes = 4 }, "larger than"},
		"branch revision": {func(_ *hub, s *Source) { s.Revision = "main" }, "full commit"},
		"not a model": {func(h *hub, _ *Source) { h.git["config.json"] = `{"labels": []}` },
			"id2label"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h, f, src := setup(t)
			dir := filepath.Join(t.TempDir(), "toxic")
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("the old model"), 0o644)
			c.tamper(h, &src)
			err := f.Install(context.Background(), src, dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Install = %v; want an error about %q", err, c.want)
			}
			if old, _ := os.ReadFile(filepath.Join(dir, "model.onnx")); string(old) != "the old model" {
				t.Errorf("the installed model was touched: %q", old)
			}
			entries, _ := os.ReadDir(filepath.Dir(dir))
			if len(entries) != 1 {
				t.Errorf("left temporary folders behind: %v", entries)
			}
		})
	}
}

func TestTheShippedSourceIsPinned(t *testing.T) {
	s := ToxicMiniLM
	if len(s.Revision) != 40 || strings.Trim(s.Revision, "0123456789abcdef") != "" {
		t.Errorf("revision %q is not a commit id", s.Revision)
	}
	var names []string
	for _, f := range s.Files {
		names = append(names, f.As)
		if strings.HasSuffix(f.Path, ".onnx") && len(f.SHA256) != 64 {
			t.Errorf("%s has no SHA-256", f.Path)
		}
	}
	if strings.Join(names, ",") != "model.onnx,tokenizer.json,config.json" {
		t.Errorf("files %v do not make a model folder", names)
	}
}
