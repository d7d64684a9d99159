// Package classify runs a Hugging Face text-classification model exported
// to ONNX (a folder with model.onnx, tokenizer.json and config.json) on one
// of two backends behind one interface: onnxruntime (fast, needs
// libonnxruntime) and hugot's pure-Go backend (no native library). Both
// return the same per-label scores for the same model.
package classify

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Classifier scores texts: one score in [0,1] per label, in Labels() order.
type Classifier interface {
	Classify(texts []string) ([][]float32, error)
	Labels() []string
	Backend() string
	Close() error
}

// Meta is what config.json says about the model.
type Meta struct {
	Labels     []string // by class index
	MultiLabel bool     // sigmoid per label (else softmax across labels)
	Dir        string
}

// MaxChars bounds a text before tokenizing: far beyond what a model reads
// (MaxTokens), small enough that tokenizing stays cheap.
const MaxChars = 2000

// MaxTokens is the sequence length texts are truncated to.
const MaxTokens = 128

// LoadMeta checks a model folder and reads its labels, with an error that
// says which file is missing or wrong.
func LoadMeta(dir string) (Meta, error) {
	for _, f := range []string{"model.onnx", "tokenizer.json", "config.json"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return Meta{}, fmt.Errorf("classify: model folder %s: %w", dir, err)
		}
		if fi.Size() == 0 {
			return Meta{}, fmt.Errorf("classify: model folder %s: %s is empty", dir, f)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return Meta{}, err
	}
	var cfg struct {
		ID2Label    map[string]string `json:"id2label"`
		ProblemType string            `json:"problem_type"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Meta{}, fmt.Errorf("classify: %s/config.json: %w", dir, err)
	}
	if len(cfg.ID2Label) == 0 {
		return Meta{}, fmt.Errorf("classify: %s/config.json has no id2label", dir)
	}
	ids := make([]int, 0, len(cfg.ID2Label))
	for k := range cfg.ID2Label {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(cfg.ID2Label) {
			return Meta{}, fmt.Errorf("classify: %s/config.json: id2label keys must be 0..%d", dir, len(cfg.ID2Label)-1)
		}
		ids = append(ids, i)
	}
	sort.Ints(ids)
	m := Meta{Dir: dir, MultiLabel: cfg.ProblemType != "single_label_classification"}
	for _, i := range ids {
		m.Labels = append(m.Labels, cfg.ID2Label[strconv.Itoa(i)])
	}
	return m, nil
}

// Sanitize makes any string safe to tokenize: valid UTF-8, control
// characters as spaces, no format characters (zero-width joiners, byte
// order marks: BERT's text cleaning drops them anyway), at most MaxChars
// characters, never empty. The general Go tokenizer panics on some such
// input (a text that starts with a format character), so nothing reaches
// it unsanitized.
func Sanitize(s string) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > MaxChars {
		s = string([]rune(s)[:MaxChars])
	}
	if strings.TrimSpace(s) == "" {
		return "."
	}
	return s
}

// Open loads the model on the requested backend: "onnxruntime" (needs
// libPath), "go", or "" for onnxruntime when libPath is set, else go.
func Open(dir, backend, libPath string) (Classifier, error) {
	meta, err := LoadMeta(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case backend == "onnxruntime" || (backend == "" && libPath != ""):
		if libPath == "" {
			return nil, errors.New("classify: the onnxruntime backend needs the path of libonnxruntime (ONNXRUNTIME_LIB)")
		}
		return openORT(meta, libPath)
	case backend == "go" || backend == "":
		return openGo(meta)
	}
	return nil, fmt.Errorf("classify: unknown backend %q (want onnxruntime or go)", backend)
}
