package classify

import (
	"fmt"

	"github.com/knights-analytics/hugot"
	"github.com/knights-analytics/hugot/pipelines"
)

// goClassifier is hugot's pure-Go backend (GoMLX): no native library.
//
// GoMLX compiles the graph once per input shape and keeps every compiled
// shape, so shapes are bounded here: sequences are padded to MaxTokens
// (texts cut to goMaxRunes, which can never exceed it) and batches to a
// power of two up to 32. At most six shapes are ever compiled.
type goClassifier struct {
	meta     Meta
	session  *hugot.Session
	pipeline *pipelines.TextClassificationPipeline
}

func openGo(meta Meta) (Classifier, error) {
	s, err := hugot.NewGoSession()
	if err != nil {
		return nil, fmt.Errorf("classify: go backend: %w", err)
	}
	opt := pipelines.WithSingleLabel()
	if meta.MultiLabel {
		opt = pipelines.WithMultiLabel()
	}
	p, err := hugot.NewPipeline(s, hugot.TextClassificationConfig{ModelPath: meta.Dir, Name: "moderation",
		Options: []hugot.TextClassificationOption{opt, pipelines.WithFixedPadding(MaxTokens)}})
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("classify: load %s on the go backend: %w", meta.Dir, err)
	}
	return &goClassifier{meta: meta, session: s, pipeline: p}, nil
}

// goMaxRunes keeps a text within MaxTokens: WordPiece never makes more
// tokens than characters, plus [CLS] and [SEP].
const goMaxRunes = MaxTokens - 2

// goBatchSizes are the batch shapes the go backend compiles.
var goBatchSizes = []int{1, 2, 4, 8, 16, 32}

func (g *goClassifier) Classify(texts []string) ([][]float32, error) {
	if len(texts) > goBatchSizes[len(goBatchSizes)-1] {
		half := len(texts) / 2
		a, err := g.Classify(texts[:half])
		if err != nil {
			return nil, err
		}
		b, err := g.Classify(texts[half:])
		return append(a, b...), err
	}
	size := len(texts)
	for _, s := range goBatchSizes {
		if s >= size {
			size = s
			break
		}
	}
	clean := make([]string, size)
	for i := range clean {
		clean[i] = "."
		if i < len(texts) {
			clean[i] = Sanitize(texts[i])
			if r := []rune(clean[i]); len(r) > goMaxRunes {
				clean[i] = string(r[:goMaxRunes])
			}
		}
	}
	out, err := g.run(clean)
	if err != nil {
		return nil, fmt.Errorf("classify: go backend: %w", err)
	}
	scores := make([][]float32, len(texts))
	index := map[string]int{}
	for i, l := range g.meta.Labels {
		index[l] = i
	}
	for i, row := range out.ClassificationOutputs[:len(texts)] {
		scores[i] = make([]float32, len(g.meta.Labels))
		for _, c := range row {
			if j, ok := index[c.Label]; ok {
				scores[i][j] = c.Score
			}
		}
	}
	return scores, nil
}

// run runs the pipeline; its tokenizer has panicked on input Sanitize did
// not yet know about, which must fail this batch, not end the process.
func (g *goClassifier) run(texts []string) (out *pipelines.TextClassificationOutput, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pipeline failed on this batch: %v", r)
		}
	}()
	return g.pipeline.RunPipeline(texts)
}

func (g *goClassifier) Labels() []string { return g.meta.Labels }
func (g *goClassifier) Backend() string  { return "go" }
func (g *goClassifier) Close() error     { return g.session.Destroy() }
