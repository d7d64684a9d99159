package classify

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parley-chat/parley/functions/moderation/internal/bertgen"
)

// ortLib is libonnxruntime, fetched by `make onnxruntime` (the tests need it).
func ortLib(t testing.TB) string {
	if p := os.Getenv("ONNXRUNTIME_LIB"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", ".parley", "lib", "libonnxruntime.so.1")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("libonnxruntime not found at %s: run `make onnxruntime` or set ONNXRUNTIME_LIB", p)
	}
	return p
}

var testModel = bertgen.Config{
	Words:    []string{"hello", "world", "you", "are", "an", "idiot", "i", "will", "kill", "nice", "day", "moron"},
	Labels:   []string{"toxic", "threat"},
	Triggers: map[string]int{"idiot": 0, "moron": 0, "kill": 1},
}

func writeModel(t testing.TB) string {
	dir := t.TempDir()
	if err := bertgen.Write(dir, testModel); err != nil {
		t.Fatal(err)
	}
	return dir
}

var texts = []string{
	"hello world", "you are an idiot", "i will kill you", "nice day", "MORON!", "idiots", "",
	"🎉🎉🎉", strings.Repeat("hello ", 3000) + "idiot", "bad \xff\xfe utf8 idiot", "tab\tand\nnewline kill",
	strings.Repeat("world ", 15) + "moron " + strings.Repeat("nice day ", 20),
	// A leading format character used to crash the general tokenizer (the
	// go backend's): the process exited on such a message.
	"\u200dyou are an idiot, ¿qué?", "\ufeffi will kill you, señor", "\u0600 nice day ¿qué?",
}

func TestBothBackendsAgree(t *testing.T) {
	dir := writeModel(t)
	goc, err := Open(dir, "go", "")
	if err != nil {
		t.Fatal(err)
	}
	defer goc.Close()
	orc, err := Open(dir, "onnxruntime", ortLib(t))
	if err != nil {
		t.Fatal(err)
	}
	defer orc.Close()
	a, err := goc.Classify(texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := orc.Classify(texts)
	if err != nil {
		t.Fatal(err)
	}
	flagged := func(s []float32) string {
		var out []string
		for i, v := range s {
			if v >= 0.5 {
				out = append(out, testModel.Labels[i])
			}
		}
		return strings.Join(out, ",")
	}
	want := []string{"", "toxic", "threat", "", "toxic", "", "", "", "", "toxic", "threat", "toxic", "toxic", "threat", ""}
	for i := range texts {
		if flagged(a[i]) != flagged(b[i]) {
			t.Errorf("%q: go says %v, onnxruntime says %v", texts[i], a[i], b[i])
		}
		for j := range a[i] {
			if math.Abs(float64(a[i][j]-b[i][j])) > 1e-3 {
				t.Errorf("%q label %d: go %.5f vs onnxruntime %.5f", texts[i], j, a[i][j], b[i][j])
			}
		}
		if flagged(b[i]) != want[i] {
			t.Errorf("%q flagged %q, want %q (scores %v)", texts[i], flagged(b[i]), want[i], b[i])
		}
	}
}

func TestBadModelFoldersAreClearErrors(t *testing.T) {
	good := writeModel(t)
	cases := map[string]func(dir string){
		"missing model": func(d string) { os.Remove(filepath.Join(d, "model.onnx")) },
		"empty model":   func(d string) { os.WriteFile(filepath.Join(d, "model.onnx"), nil, 0o644) },
		"garbage model": func(d string) { os.WriteFile(filepath.Join(d, "model.onnx"), []byte("not onnx at all"), 0o644) },
		"no labels":     func(d string) { os.WriteFile(filepath.Join(d, "config.json"), []byte(`{"model_type":"bert"}`), 0o644) },
		"bad config":    func(d string) { os.WriteFile(filepath.Join(d, "config.json"), []byte(`{`), 0o644) },
		"no tokenizer":  func(d string) { os.Remove(filepath.Join(d, "tokenizer.json")) },
	}
	for name, breakIt := range cases {
		for _, backend := range []string{"go", "onnxruntime"} {
			t.Run(name+"/"+backend, func(t *testing.T) {
				dir := t.TempDir()
				for _, f := range []string{"model.onnx", "tokenizer.json", "config.json"} {
					b, _ := os.ReadFile(filepath.Join(good, f))
					os.WriteFile(filepath.Join(dir, f), b, 0o644)
				}
				breakIt(dir)
				c, err := Open(dir, backend, ortLib(t))
				if err == nil {
					c.Close()
					t.Fatal("opened a broken model folder")
				}
				t.Log(err)
			})
		}
	}
	if _, err := Open(good, "tpu", ""); err == nil {
		t.Error("accepted an unknown backend")
	}
	if _, err := Open(good, "onnxruntime", ""); err == nil {
		t.Error("onnxruntime without a library path")
	}
}

func TestGoBackendCompilesBoundedShapes(t *testing.T) {
	c, err := Open(writeModel(t), "go", "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// 40 texts of many lengths: classified in batches padded to powers of two.
	var many []string
	for i := range 40 {
		many = append(many, strings.Repeat("hello ", i)+"idiot")
	}
	got, err := c.Classify(many)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d results for 40 texts", len(got))
	}
	for i, s := range got {
		if s[0] < 0.5 && i < 20 { // "idiot" within the first 126 characters
			t.Errorf("text %d not flagged: %v", i, s)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"": ".", "  ": ".", "a\x00b": "a b", "ok": "ok", "\xff": ".",
		"\u200dzw\u200dj": "zwj", "\ufeff": "."} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if n := len([]rune(Sanitize(strings.Repeat("é", 5000)))); n != MaxChars {
		t.Errorf("long text kept %d characters", n)
	}
}

// A model whose tokenizer.json truncates shorter than MaxTokens gets texts
// truncated to its length, [CLS] first and [SEP] last.
func TestTextsAreTruncatedToTheModelsLength(t *testing.T) {
	dir := writeModel(t)
	path := filepath.Join(dir, "tokenizer.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tj map[string]any
	json.Unmarshal(raw, &tj)
	tj["truncation"] = map[string]any{"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 0}
	changed, _ := json.Marshal(tj)
	if err := os.WriteFile(path, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(dir, "onnxruntime", ortLib(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ids, err := c.(*ortClassifier).encode(strings.Repeat("hello world ", 20))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 8 || ids[0] != 2 || ids[7] != 3 {
		t.Errorf("ids %v: want 8, [CLS] (2) first and [SEP] (3) last", ids)
	}
	if _, err := c.Classify([]string{strings.Repeat("idiot ", 50)}); err != nil {
		t.Fatal(err)
	}
}
