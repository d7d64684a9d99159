package wordpiece_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/tokenizer/pretrained"

	"github.com/parley-chat/parley/functions/moderation/internal/wordpiece"
)

// The fixture is a BERT tokenizer over a vocabulary with whole words, word
// pieces, and accented, CJK, emoji and punctuation entries; golden.json is
// what Hugging Face's own tokenizers make of texts built from characters
// each normalization and splitting rule is about (testdata/golden.mjs).
const fixture = "testdata/tokenizer.json"

type goldenCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

func golden(t testing.TB) []goldenCase {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestEncodeMatchesHuggingFace(t *testing.T) {
	tok, err := wordpiece.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	cases := golden(t)
	mismatches := 0
	for _, c := range cases {
		if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
			mismatches++
			if mismatches <= 10 {
				t.Errorf("%+q: got %v, want %v", c.Text, got, c.IDs)
			}
		}
	}
	if mismatches > 0 || len(cases) < 1000 {
		t.Errorf("%d of %d texts differ", mismatches, len(cases))
	}
}

// Special tokens typed in a message are text: they cannot restructure the
// sequence the classifier reads.
func TestTypedSpecialTokensAreText(t *testing.T) {
	tok, err := wordpiece.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	typed := tok.Encode("hello [SEP] [CLS]world[MASK]")
	spaced := tok.Encode("hello [ sep ] [ cls ] world [ mask ]")
	if !slices.Equal(typed, spaced) {
		t.Errorf("typed special tokens: %v, the same words spaced out: %v", typed, spaced)
	}
	if n := len(typed); typed[0] != 2 || typed[n-1] != 3 || slices.Contains(typed[1:n-1], 2) || slices.Contains(typed[1:n-1], 3) {
		t.Errorf("%v: [CLS] (2) and [SEP] (3) only around the text", typed)
	}
}

// changedFixture writes a copy of the fixture with change applied and
// returns its path.
func changedFixture(t *testing.T, change func(map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var tj map[string]any
	if err := json.Unmarshal(raw, &tj); err != nil {
		t.Fatal(err)
	}
	change(tj)
	changed, _ := json.Marshal(tj)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := os.WriteFile(path, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadRefusesOtherTokenizers(t *testing.T) {
	for name, change := range map[string]func(map[string]any){
		"BPE model":         func(tj map[string]any) { tj["model"].(map[string]any)["type"] = "BPE" },
		"other normalizer":  func(tj map[string]any) { tj["normalizer"] = map[string]any{"type": "NFKC"} },
		"left truncation":   func(tj map[string]any) { tj["truncation"] = map[string]any{"max_length": 8, "direction": "Left"} },
		"normalized tokens": func(tj map[string]any) { tj["added_tokens"].([]any)[0].(map[string]any)["normalized"] = true },
		"added words": func(tj map[string]any) {
			tj["added_tokens"] = append(tj["added_tokens"].([]any), map[string]any{"id": 9999, "content": "covid",
				"normalized": false, "special": false})
		},
	} {
		if _, err := wordpiece.Load(changedFixture(t, change)); !errors.Is(err, wordpiece.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
	tok, err := wordpiece.Load(fixture)
	if err != nil || tok.MaxLength != 0 {
		t.Fatalf("the fixture itself: max length %v, %v", tok, err)
	}
}

// Truncation and padding settings, common in exported models, are read,
// not refused: the caller truncates, and pads its own batches.
func TestLoadReadsTruncation(t *testing.T) {
	tok, err := wordpiece.Load(changedFixture(t, func(tj map[string]any) {
		tj["truncation"] = map[string]any{"direction": "Right", "max_length": 512, "strategy": "LongestFirst", "stride": 0}
		tj["padding"] = map[string]any{"strategy": "BatchLongest", "pad_id": 0, "pad_token": "[PAD]"}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if tok.MaxLength != 512 {
		t.Errorf("max length %d, want 512", tok.MaxLength)
	}
	plain, _ := wordpiece.Load(fixture)
	if got, want := tok.Encode("hello world"), plain.Encode("hello world"); !slices.Equal(got, want) {
		t.Errorf("with truncation and padding set: %v, without: %v", got, want)
	}
}

// BenchmarkEncode compares this package with the general tokenizer the
// classifier used before (github.com/sugarme/tokenizer) on the golden texts.
func BenchmarkEncode(b *testing.B) {
	fast, err := wordpiece.Load(fixture)
	if err != nil {
		b.Fatal(err)
	}
	general, err := pretrained.FromFile(fixture)
	if err != nil {
		b.Fatal(err)
	}
	var texts []string
	for _, c := range golden(b) {
		if !strings.ContainsAny(c.Text, "\u200d\ufeff\u0600\U000e0001") { // the general tokenizer panics on these
			texts = append(texts, c.Text)
		}
	}
	b.Run("wordpiece", func(b *testing.B) {
		i := 0
		for b.Loop() {
			fast.Encode(texts[i%len(texts)])
			i++
		}
	})
	b.Run("general", func(b *testing.B) {
		i := 0
		for b.Loop() {
			general.EncodeSingle(texts[i%len(texts)], true)
			i++
		}
	})
}
