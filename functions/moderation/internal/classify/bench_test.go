package classify

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/parley-chat/parley/functions/moderation/internal/bertgen"
)

var miniLM struct {
	once  sync.Once
	dir   string
	err   error
	words []string
}

// miniLMModel writes a MiniLM-L6-shaped model (6 layers, hidden 384, 12
// heads, 1536 intermediate, 30k vocabulary) with random weights: the
// timing of a real small toxicity classifier.
func miniLMModel(b *testing.B) (string, []string) {
	miniLM.once.Do(func() {
		miniLM.dir = b.TempDir()
		for i := range 30000 {
			miniLM.words = append(miniLM.words, fmt.Sprintf("w%d", i))
		}
		miniLM.err = bertgen.Write(miniLM.dir, bertgen.Config{Words: miniLM.words, Labels: []string{"toxic", "insult", "threat"},
			Hidden: 384, Layers: 6, Heads: 12, Intermediate: 1536, Random: true, Seed: 7})
	})
	if miniLM.err != nil {
		b.Fatal(miniLM.err)
	}
	return miniLM.dir, miniLM.words
}

// BenchmarkClassify measures messages/s for 32-token messages (30 words
// plus [CLS] and [SEP]) on both backends, one message per call and 32.
func BenchmarkClassify(b *testing.B) {
	dir, words := miniLMModel(b)
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([]string, 64)
	for i := range msgs {
		w := make([]string, 30)
		for j := range w {
			w[j] = words[rng.IntN(len(words))]
		}
		msgs[i] = strings.Join(w, " ")
	}
	for _, backend := range []string{"onnxruntime", "go"} {
		c, err := Open(dir, backend, ortLib(b))
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/batch%d", backend, batch), func(b *testing.B) {
				if _, err := c.Classify(msgs[:batch]); err != nil { // warm-up: compile this shape
					b.Fatal(err)
				}
				n := 0
				for b.Loop() {
					if _, err := c.Classify(msgs[n%32 : n%32+batch]); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
		c.Close()
	}
}
