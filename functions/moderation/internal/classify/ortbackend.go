package classify

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/parley-chat/parley/functions/moderation/internal/wordpiece"
)

// ortInit loads the shared library once per process.
var ortInit struct {
	once sync.Once
	path string
	err  error
}

func initORT(libPath string) error {
	ortInit.once.Do(func() {
		ortInit.path = libPath
		ort.SetSharedLibraryPath(libPath)
		ortInit.err = ort.InitializeEnvironment()
	})
	if ortInit.err == nil && ortInit.path != libPath {
		return fmt.Errorf("classify: onnxruntime already loaded from %s", ortInit.path)
	}
	return ortInit.err
}

// ortClassifier runs the model on onnxruntime, tokenizing in Go.
type ortClassifier struct {
	meta Meta
	// wp encodes BERT WordPiece tokenizers, 20 times faster than tok and
	// without its crashes on some input; tok is for other tokenizers.
	wp      *wordpiece.Tokenizer
	tok     *tokenizer.Tokenizer
	session *ort.DynamicAdvancedSession
	mu      sync.Mutex // tok is not safe for concurrent use
}

func openORT(meta Meta, libPath string) (Classifier, error) {
	if err := initORT(libPath); err != nil {
		return nil, fmt.Errorf("classify: load onnxruntime from %s: %w", libPath, err)
	}
	tokPath := filepath.Join(meta.Dir, "tokenizer.json")
	wp, err := wordpiece.Load(tokPath)
	var tok *tokenizer.Tokenizer
	if errors.Is(err, wordpiece.ErrUnsupported) {
		tok, err = pretrained.FromFile(tokPath)
	}
	if err != nil {
		return nil, fmt.Errorf("classify: %s: %w", tokPath, err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	opts.SetIntraOpNumThreads(runtime.GOMAXPROCS(0))
	// onnxruntime's pool threads spin between runs by default, burning a
	// core each while the function waits for the next batch and starving
	// the Go runtime (and on a shared node, its neighbours).
	for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
		if err := opts.AddSessionConfigEntry(key, "0"); err != nil {
			return nil, fmt.Errorf("classify: onnxruntime option %s: %w", key, err)
		}
	}
	s, err := ort.NewDynamicAdvancedSession(filepath.Join(meta.Dir, "model.onnx"),
		[]string{"input_ids", "attention_mask", "token_type_ids"}, []string{"logits"}, opts)
	if err != nil {
		return nil, fmt.Errorf("classify: load %s/model.onnx on onnxruntime: %w", meta.Dir, err)
	}
	return &ortClassifier{meta: meta, wp: wp, tok: tok, session: s}, nil
}

// encode tokenizes one text, truncated to MaxTokens (keeping [CLS] … and
// the final [SEP]).
func (o *ortClassifier) encode(text string) (ids []int, err error) {
	text = Sanitize(text)
	if o.wp != nil {
		ids = o.wp.Encode(text)
	} else {
		o.mu.Lock()
		ids, err = encodeGeneral(o.tok, text)
		o.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	if limit := o.maxTokens(); len(ids) > limit {
		ids = append(ids[:limit-1], ids[len(ids)-1])
	}
	return ids, nil
}

// maxTokens is MaxTokens, or the model's own truncation length if shorter.
func (o *ortClassifier) maxTokens() int {
	if o.wp != nil && o.wp.MaxLength > 2 && o.wp.MaxLength < MaxTokens {
		return o.wp.MaxLength
	}
	return MaxTokens
}

// encodeGeneral runs the general tokenizer, which panics on some input
// (a leading zero-width joiner, for one): that is an error for this text,
// not the end of the process.
func encodeGeneral(tok *tokenizer.Tokenizer, text string) (ids []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("classify: tokenizer failed on this text: %v", r)
		}
	}()
	enc, err := tok.EncodeSingle(text, true)
	if err != nil {
		return nil, fmt.Errorf("classify: tokenize: %w", err)
	}
	return enc.Ids, nil
}

func (o *ortClassifier) Classify(texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	encs := make([][]int, len(texts))
	width := 0
	for i, t := range texts {
		ids, err := o.encode(t)
		if err != nil {
			return nil, err
		}
		encs[i] = ids
		width = max(width, len(ids))
	}
	n := len(texts)
	ids := make([]int64, n*width)
	mask := make([]int64, n*width)
	types := make([]int64, n*width)
	for i, e := range encs {
		for j, id := range e {
			ids[i*width+j] = int64(id)
			mask[i*width+j] = 1
		}
	}
	shape := ort.NewShape(int64(n), int64(width))
	inputs := make([]ort.Value, 3)
	for i, data := range [][]int64{ids, mask, types} {
		t, err := ort.NewTensor(shape, data)
		if err != nil {
			return nil, err
		}
		defer t.Destroy()
		inputs[i] = t
	}
	outputs := []ort.Value{nil}
	if err := o.session.Run(inputs, outputs); err != nil {
		return nil, fmt.Errorf("classify: onnxruntime: %w", err)
	}
	defer outputs[0].Destroy()
	logits := outputs[0].(*ort.Tensor[float32]).GetData()
	L := len(o.meta.Labels)
	if len(logits) != n*L {
		return nil, fmt.Errorf("classify: model returned %d logits for %d texts and %d labels", len(logits), n, L)
	}
	scores := make([][]float32, n)
	for i := range scores {
		scores[i] = activate(logits[i*L:(i+1)*L], o.meta.MultiLabel)
	}
	return scores, nil
}

// activate turns logits into scores: sigmoid per label, or softmax.
func activate(logits []float32, multiLabel bool) []float32 {
	out := make([]float32, len(logits))
	if multiLabel {
		for i, l := range logits {
			out[i] = float32(1 / (1 + math.Exp(-float64(l))))
		}
		return out
	}
	maxL := logits[0]
	for _, l := range logits {
		maxL = max(maxL, l)
	}
	var sum float64
	for i, l := range logits {
		e := math.Exp(float64(l - maxL))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

func (o *ortClassifier) Labels() []string { return o.meta.Labels }
func (o *ortClassifier) Backend() string  { return "onnxruntime" }
func (o *ortClassifier) Close() error     { return o.session.Destroy() }
