// Command demomodel writes the demonstration toxicity model that `make run`
// uses when no real model is installed: a BERT-shaped classifier whose
// weights flag a fixed list of words (labels toxic, insult, threat). It is
// a real ONNX model run by the real inference code, not a word filter, but
// it knows only the words below; `make model` installs a trained one.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/parley-chat/parley/functions/moderation/internal/bertgen"
)

// Triggers are the words the demo model flags, by label index.
var triggers = map[string]int{
	"idiot": 0, "moron": 0, "stupid": 0, "dumb": 0, "shut": 0, "trash": 0,
	"loser": 1, "pathetic": 1, "ugly": 1, "worthless": 1,
	"kill": 2, "die": 2, "hurt": 2, "destroy": 2,
}

var common = []string{"the", "a", "an", "and", "or", "but", "is", "are", "was", "be", "to", "of", "in", "on", "at",
	"for", "with", "you", "i", "we", "they", "he", "she", "it", "this", "that", "what", "how", "hello", "hi",
	"thanks", "please", "good", "great", "nice", "day", "morning", "team", "meeting", "today", "tomorrow", "yes",
	"no", "ok", "will", "can", "do", "not", "your", "my", "our", "up", "so", "very", "all", "just", "have", "has"}

func main() {
	out := flag.String("out", "", "folder to write model.onnx, tokenizer.json and config.json to")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: demomodel -out DIR")
		os.Exit(2)
	}
	words := append([]string(nil), common...)
	for w := range triggers {
		words = append(words, w)
	}
	err := bertgen.Write(*out, bertgen.Config{Words: words, Labels: []string{"toxic", "insult", "threat"},
		Triggers: triggers, Seed: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demomodel:", err)
		os.Exit(1)
	}
}
