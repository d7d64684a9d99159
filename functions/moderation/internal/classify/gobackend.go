package classify

import (
	"fmt"

	"github.com/knights-analytics/hugot"
	"github.com/knights-analytics/hugot/pipelines"
)

// goClassifier is hugot's pure-Go backend (GoMLX): no native library.
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
		Options: []hugot.TextClassificationOption{opt}})
	if err != nil {
		s.Destroy()
		return nil, fmt.Errorf("classify: load %s on the go backend: %w", meta.Dir, err)
	}
	return &goClassifier{meta: meta, session: s, pipeline: p}, nil
}

func (g *goClassifier) Classify(texts []string) ([][]float32, error) {
	clean := make([]string, len(texts))
	for i, t := range texts {
		clean[i] = Sanitize(t)
	}
	out, err := g.pipeline.RunPipeline(clean)
	if err != nil {
		return nil, fmt.Errorf("classify: go backend: %w", err)
	}
	scores := make([][]float32, len(texts))
	index := map[string]int{}
	for i, l := range g.meta.Labels {
		index[l] = i
	}
	for i, row := range out.ClassificationOutputs {
		scores[i] = make([]float32, len(g.meta.Labels))
		for _, c := range row {
			if j, ok := index[c.Label]; ok {
				scores[i][j] = c.Score
			}
		}
	}
	return scores, nil
}

func (g *goClassifier) Labels() []string { return g.meta.Labels }
func (g *goClassifier) Backend() string  { return "go" }
func (g *goClassifier) Close() error     { return g.session.Destroy() }
