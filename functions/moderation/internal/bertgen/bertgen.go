// Package bertgen writes small, real BERT-shaped text classifiers in the
// Hugging Face layout (model.onnx, tokenizer.json, config.json): the same
// graph structure as an exported BERT sequence classifier (embeddings,
// self-attention with mask, GELU feed-forward, layer norms, pooler,
// classifier), with weights chosen instead of trained. Tests use
// Deterministic models whose chosen words trigger chosen labels; benchmarks
// use Random models of real sizes (MiniLM-L6-shaped). No model hub needed.
package bertgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Config shapes a model.
type Config struct {
	Words        []string       // vocabulary beyond the special tokens, lower case
	Labels       []string       // id2label
	Hidden       int            // hidden size; default 32
	Layers       int            // default 1
	Heads        int            // default 2
	Intermediate int            // default 4 * Hidden
	MaxPositions int            // default 512
	Triggers     map[string]int // Deterministic: word -> index of the label it triggers
	Random       bool           // random weights (timing), instead of Triggers
	Seed         uint64
}

// Specials are the first token ids, as in BERT vocabularies.
var Specials = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

func (c *Config) defaults() {
	if c.Hidden == 0 {
		c.Hidden = 32
	}
	if c.Layers == 0 {
		c.Layers = 1
	}
	if c.Heads == 0 {
		c.Heads = 2
	}
	if c.Intermediate == 0 {
		c.Intermediate = 4 * c.Hidden
	}
	if c.MaxPositions == 0 {
		c.MaxPositions = 512
	}
}

// Write writes model.onnx, tokenizer.json and config.json to dir.
func Write(dir string, c Config) error {
	c.defaults()
	if c.Hidden%c.Heads != 0 || len(c.Labels) == 0 || len(c.Labels) > c.Hidden {
		return fmt.Errorf("bertgen: want Hidden divisible by Heads and 1..Hidden labels")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vocab := append(append([]string(nil), Specials...), c.Words...)
	w := newWeights(c, vocab)
	nodes, inits := graph(c, w)
	model := encodeModel(nodes, inits,
		[][]byte{
			valueInfo("input_ids", tensorInt64, []int64{-1, -1}, []string{"batch", "sequence"}),
			valueInfo("attention_mask", tensorInt64, []int64{-1, -1}, []string{"batch", "sequence"}),
			valueInfo("token_type_ids", tensorInt64, []int64{-1, -1}, []string{"batch", "sequence"}),
		},
		[][]byte{valueInfo("logits", tensorFloat, []int64{-1, int64(len(c.Labels))}, []string{"batch", ""})})
	if err := os.WriteFile(filepath.Join(dir, "model.onnx"), model, 0o644); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "tokenizer.json"), tokenizerJSON(vocab)); err != nil {
		return err
	}
	id2label := map[string]string{}
	label2id := map[string]int{}
	for i, l := range c.Labels {
		id2label[fmt.Sprint(i)] = l
		label2id[l] = i
	}
	return writeJSON(filepath.Join(dir, "config.json"), map[string]any{
		"architectures": []string{"BertForSequenceClassification"}, "model_type": "bert",
		"hidden_size": c.Hidden, "num_hidden_layers": c.Layers, "num_attention_heads": c.Heads,
		"intermediate_size": c.Intermediate, "max_position_embeddings": c.MaxPositions, "vocab_size": len(vocab),
		"id2label": id2label, "label2id": label2id, "problem_type": "multi_label_classification",
	})
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// weights holds every parameter, by initializer name.
type weights map[string]tensor

func newWeights(c Config, vocab []string) weights {
	H, I, L, V := c.Hidden, c.Intermediate, len(c.Labels), len(vocab)
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b9))
	w := weights{}
	mat := func(name string, rows, cols int, fill func(r, c int) float32) {
		t := tensor{name: name, dims: []int64{int64(rows), int64(cols)}, floats: make([]float32, rows*cols)}
		for r := range rows {
			for col := range cols {
				t.floats[r*cols+col] = fill(r, col)
			}
		}
		w[name] = t
	}
	vec := func(name string, n int, v float32) {
		t := tensor{name: name, dims: []int64{int64(n)}, floats: make([]float32, n)}
		for i := range t.floats {
			t.floats[i] = v
		}
		w[name] = t
	}
	random := func(int, int) float32 { return float32(rng.NormFloat64() * 0.02) }
	zero := func(int, int) float32 { return 0 }
	identity := func(r, c int) float32 {
		if r == c {
			return 1
		}
		return 0
	}
	pick := func(deterministic func(int, int) float32) func(int, int) float32 {
		if c.Random {
			return random
		}
		return deterministic
	}
	// A trigger word's embedding points along its label's axis; every other
	// token embeds to zero. Attention is uniform (zero queries and keys),
	// so [CLS] sees the mean of the sentence; layer norms make a single
	// trigger word stand out whatever the length; the classifier reads the
	// label axes.
	index := map[string]int{}
	for i, t := range vocab {
		index[t] = i
	}
	mat("word_embeddings", V, H, pick(func(r, col int) float32 {
		if l, ok := c.Triggers[vocab[r]]; ok && l == col {
			return 10
		}
		return 0
	}))
	mat("position_embeddings", c.MaxPositions, H, pick(zero))
	mat("token_type_embeddings", 2, H, pick(zero))
	for layer := range c.Layers {
		p := fmt.Sprintf("l%d_", layer)
		mat(p+"q", H, H, pick(zero))
		mat(p+"k", H, H, pick(zero))
		mat(p+"v", H, H, pick(identity))
		mat(p+"o", H, H, pick(identity))
		mat(p+"ff1", H, I, pick(zero))
		mat(p+"ff2", I, H, pick(zero))
		for _, b := range []string{"bq", "bk", "bv", "bo", "bff2"} {
			vec(p+b, H, 0)
		}
		vec(p+"bff1", I, 0)
		for _, ln := range []string{"ln1", "ln2"} {
			vec(p+ln+"_g", H, 1)
			vec(p+ln+"_b", H, 0)
		}
	}
	vec("emb_ln_g", H, 1)
	vec("emb_ln_b", H, 0)
	mat("pooler", H, H, pick(identity))
	vec("pooler_b", H, 0)
	mat("classifier", H, L, pick(func(r, col int) float32 {
		if r == col {
			return 10
		}
		return 0
	}))
	vec("classifier_b", L, -5)
	if c.Random {
		vec("classifier_b", L, 0)
	}
	return w
}

// graph builds the nodes of a BERT encoder with a classification head.
func graph(c Config, w weights) ([]node, []tensor) {
	H, heads := c.Hidden, c.Heads
	inits := make([]tensor, 0, len(w)+8)
	for _, t := range w {
		inits = append(inits, t)
	}
	constI := func(name string, v ...int64) string {
		inits = append(inits, tensor{name: name, dims: []int64{int64(len(v))}, ints: v})
		return name
	}
	constF := func(name string, v float32) string {
		inits = append(inits, tensor{name: name, dims: []int64{}, floats: []float32{v}})
		return name
	}
	var nodes []node
	n := 0
	op := func(typ string, inputs []string, attrs ...attr) string {
		n++
		out := fmt.Sprintf("t%d", n)
		nodes = append(nodes, node{op: typ, inputs: inputs, outputs: []string{out}, attrs: attrs})
		return out
	}
	layerNorm := func(x, g, b string) string {
		return op("LayerNormalization", []string{x, g, b}, attr{name: "axis", typ: attrInt, i: -1},
			attr{name: "epsilon", typ: attrFloat, f: 1e-12})
	}
	linear := func(x, wt, b string) string { return op("Add", []string{op("MatMul", []string{x, wt}), b}) }

	// Embeddings: word + position (sliced to the sequence length) + token type.
	seqLen := op("Slice", []string{op("Shape", []string{"input_ids"}), constI("one", 1), constI("two", 2)})
	pos := op("Slice", []string{"position_embeddings", constI("zero", 0), seqLen, constI("axis0", 0)})
	x := op("Add", []string{op("Gather", []string{"word_embeddings", "input_ids"}), pos})
	x = op("Add", []string{x, op("Gather", []string{"token_type_embeddings", "token_type_ids"})})
	x = layerNorm(x, "emb_ln_g", "emb_ln_b")

	// Additive attention mask: 0 where attended, -10000 on padding; [B,1,1,S].
	m := op("Cast", []string{"attention_mask"}, attr{name: "to", typ: attrInt, i: tensorFloat})
	m = op("Mul", []string{op("Sub", []string{constF("fone", 1), m}), constF("neg", -10000)})
	m = op("Unsqueeze", []string{m, constI("axes12", 1, 2)})

	headShape := constI("head_shape", 0, 0, int64(heads), int64(H/heads))
	mergedShape := constI("merged_shape", 0, 0, int64(H))
	scale := constF("scale", float32(1/math.Sqrt(float64(H/heads))))
	perm := func(p ...int64) attr { return attr{name: "perm", typ: attrInts, ints: p} }
	for layer := range c.Layers {
		p := fmt.Sprintf("l%d_", layer)
		split := func(wt, b string, pm ...int64) string {
			return op("Transpose", []string{op("Reshape", []string{linear(x, p+wt, p+b), headShape})}, perm(pm...))
		}
		q := split("q", "bq", 0, 2, 1, 3)
		k := split("k", "bk", 0, 2, 3, 1)
		v := split("v", "bv", 0, 2, 1, 3)
		scores := op("Add", []string{op("Mul", []string{op("MatMul", []string{q, k}), scale}), m})
		probs := op("Softmax", []string{scores}, attr{name: "axis", typ: attrInt, i: -1})
		ctx := op("Transpose", []string{op("MatMul", []string{probs, v})}, perm(0, 2, 1, 3))
		ctx = op("Reshape", []string{ctx, mergedShape})
		x = layerNorm(op("Add", []string{linear(ctx, p+"o", p+"bo"), x}), p+"ln1_g", p+"ln1_b")
		// GELU(h) = 0.5 h (1 + erf(h / sqrt 2))
		h := linear(x, p+"ff1", p+"bff1")
		erf := op("Erf", []string{op("Div", []string{h, constF(p+"sqrt2", float32(math.Sqrt2))})})
		gelu := op("Mul", []string{op("Mul", []string{h, op("Add", []string{erf, constF(p+"one_f", 1)})}), constF(p+"half", 0.5)})
		x = layerNorm(op("Add", []string{linear(gelu, p+"ff2", p+"bff2"), x}), p+"ln2_g", p+"ln2_b")
	}
	// Pooler on [CLS] and the classifier head.
	cls := op("Gather", []string{x, constI("cls", 0)}, attr{name: "axis", typ: attrInt, i: 1})
	cls = op("Squeeze", []string{cls, constI("sq_axis", 1)})
	pooled := op("Tanh", []string{linear(cls, "pooler", "pooler_b")})
	logits := linear(pooled, "classifier", "classifier_b")
	nodes = append(nodes, node{op: "Identity", inputs: []string{logits}, outputs: []string{"logits"}})
	return nodes, inits
}

// tokenizerJSON is a Hugging Face BERT WordPiece tokenizer over vocab.
func tokenizerJSON(vocab []string) map[string]any {
	ids := map[string]int{}
	var added []map[string]any
	for i, t := range vocab {
		ids[t] = i
		if i < len(Specials) {
			added = append(added, map[string]any{"id": i, "content": t, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": false, "special": true})
		}
	}
	special := func(t string) map[string]any {
		return map[string]any{"id": t, "ids": []int{ids[t]}, "tokens": []string{t}}
	}
	return map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added,
		"normalizer": map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": nil, "lowercase": true},
		"pre_tokenizer": map[string]any{"type": "BertPreTokenizer"},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}}},
			"pair": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "[CLS]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
				map[string]any{"SpecialToken": map[string]any{"id": "[SEP]", "type_id": 1}}},
			"special_tokens": map[string]any{"[CLS]": special("[CLS]"), "[SEP]": special("[SEP]")}},
		"decoder": map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true},
		"model": map[string]any{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": ids},
	}
}
