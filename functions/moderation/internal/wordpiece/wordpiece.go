// Package wordpiece encodes text for BERT-style models the way a Hugging
// Face tokenizer.json with a BertNormalizer, a BertPreTokenizer and a
// WordPiece model does, without the general machinery (offsets, alignments,
// pipelines of normalizers) that makes a general tokenizer the most
// expensive part of scoring a short chat message.
//
// Load accepts only that shape of tokenizer.json and answers
// ErrUnsupported for anything else, so a caller can keep a general
// tokenizer for other models.
//
// One deliberate difference: a special token typed by a user ("[SEP]") is
// text here, split like any other, where Hugging Face's tokenizers would
// insert the control token itself. Messages are untrusted input, and they
// should not be able to restructure the sequence the classifier reads.
package wordpiece

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ErrUnsupported says a tokenizer.json is not the shape this package encodes.
var ErrUnsupported = errors.New("wordpiece: unsupported tokenizer")

// Tokenizer encodes single texts into token ids, special tokens included.
type Tokenizer struct {
	vocab         map[string]int // whole words and word starts
	continuations map[string]int // "##piece" entries, without the prefix
	unk           int
	maxWordChars  int
	cleanText     bool
	chineseChars  bool
	stripAccents  bool
	lowercase     bool
	prefix        []int // special tokens before the text ([CLS])
	suffix        []int // and after it ([SEP])
	// MaxLength is the truncation length tokenizer.json asks for, special
	// tokens included (0: none). Encode does not truncate (the caller has
	// its own limit and keeps the final [SEP]); padding is the caller's too.
	MaxLength int
}

type tokenizerJSON struct {
	Truncation *struct {
		MaxLength int    `json:"max_length"`
		Strategy  string `json:"strategy"`
		Direction string `json:"direction"`
	} `json:"truncation"`
	AddedTokens []struct {
		Content    string `json:"content"`
		Normalized bool   `json:"normalized"`
		Special    bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer *struct {
		Type               string `json:"type"`
		CleanText          bool   `json:"clean_text"`
		HandleChineseChars bool   `json:"handle_chinese_chars"`
		StripAccents       *bool  `json:"strip_accents"`
		Lowercase          bool   `json:"lowercase"`
	} `json:"normalizer"`
	PreTokenizer *struct {
		Type string `json:"type"`
	} `json:"pre_tokenizer"`
	PostProcessor *struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
		CLS []any `json:"cls"` // BertProcessing: [token, id]
		SEP []any `json:"sep"`
	} `json:"post_processor"`
	Model struct {
		Type                    string         `json:"type"`
		UnkToken                string         `json:"unk_token"`
		ContinuingSubwordPrefix string         `json:"continuing_subword_prefix"`
		MaxInputCharsPerWord    int            `json:"max_input_chars_per_word"`
		Vocab                   map[string]int `json:"vocab"`
	} `json:"model"`
}

// Load reads a tokenizer.json; ErrUnsupported (wrapped, with the reason)
// when it is not a plain BERT WordPiece tokenizer.
func Load(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tj tokenizerJSON
	if err := json.Unmarshal(raw, &tj); err != nil {
		return nil, fmt.Errorf("wordpiece: %s: %w", path, err)
	}
	unsupported := func(why string) error { return fmt.Errorf("%w: %s", ErrUnsupported, why) }
	switch {
	case tj.Truncation != nil && tj.Truncation.Direction != "" && tj.Truncation.Direction != "Right":
		return nil, unsupported("truncation keeps the end of a text")
	case tj.Normalizer == nil || tj.Normalizer.Type != "BertNormalizer":
		return nil, unsupported("the normalizer is not BertNormalizer")
	case tj.PreTokenizer == nil || tj.PreTokenizer.Type != "BertPreTokenizer":
		return nil, unsupported("the pre-tokenizer is not BertPreTokenizer")
	case tj.Model.Type != "WordPiece" || tj.Model.ContinuingSubwordPrefix == "":
		return nil, unsupported("the model is not WordPiece")
	}
	t := &Tokenizer{vocab: map[string]int{}, continuations: map[string]int{}, maxWordChars: tj.Model.MaxInputCharsPerWord,
		cleanText: tj.Normalizer.CleanText, chineseChars: tj.Normalizer.HandleChineseChars,
		stripAccents: tj.Normalizer.Lowercase, lowercase: tj.Normalizer.Lowercase}
	if tj.Normalizer.StripAccents != nil {
		t.stripAccents = *tj.Normalizer.StripAccents
	}
	if t.maxWordChars == 0 {
		t.maxWordChars = 100
	}
	if tj.Truncation != nil {
		t.MaxLength = tj.Truncation.MaxLength
	}
	for tok, id := range tj.Model.Vocab {
		if rest, ok := strings.CutPrefix(tok, tj.Model.ContinuingSubwordPrefix); ok {
			t.continuations[rest] = id
		}
		t.vocab[tok] = id
	}
	var ok bool
	if t.unk, ok = tj.Model.Vocab[tj.Model.UnkToken]; !ok {
		return nil, unsupported("the unknown token is not in the vocabulary")
	}
	for _, a := range tj.AddedTokens {
		if a.Normalized || !a.Special { // ordinary added words must be matched in the text, as Hugging Face does
			return nil, unsupported("an added token is matched after normalization, or is not a special token")
		}
	}
	if err := t.setSpecials(&tj); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokenizer) setSpecials(tj *tokenizerJSON) error {
	pp := tj.PostProcessor
	switch {
	case pp == nil:
		return nil
	case pp.Type == "BertProcessing" && len(pp.CLS) == 2 && len(pp.SEP) == 2:
		cls, ok1 := pp.CLS[1].(float64)
		sep, ok2 := pp.SEP[1].(float64)
		if ok1 && ok2 {
			t.prefix, t.suffix = []int{int(cls)}, []int{int(sep)}
			return nil
		}
	case pp.Type == "TemplateProcessing":
		seen := false
		for _, piece := range pp.Single {
			switch {
			case piece.Sequence != nil && !seen:
				seen = true
			case piece.SpecialToken != nil:
				st, ok := pp.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return fmt.Errorf("%w: template names the unknown special token %q", ErrUnsupported, piece.SpecialToken.ID)
				}
				if seen {
					t.suffix = append(t.suffix, st.IDs...)
				} else {
					t.prefix = append(t.prefix, st.IDs...)
				}
			default:
				return fmt.Errorf("%w: unexpected template piece", ErrUnsupported)
			}
		}
		if seen {
			return nil
		}
	}
	return fmt.Errorf("%w: post-processor %q", ErrUnsupported, pp.Type)
}

// Encode returns the ids of text with the special tokens around it.
func (t *Tokenizer) Encode(text string) []int {
	e := encoder{t: t, ids: append(make([]int, 0, len(t.prefix)+len(text)/3+len(t.suffix)), t.prefix...)}
	// The normalizer's steps, in its order (clean, space out CJK, strip
	// accents, lower-case), then the pre-tokenizer's split on spaces and
	// punctuation, one character at a time.
	for _, r := range text {
		switch {
		case t.cleanText && (r == 0 || r == utf8.RuneError || isOther(r)):
		case unicode.IsSpace(r):
			e.endWord()
		case t.chineseChars && isChinese(r):
			e.endWord()
			e.char(r)
			e.endWord()
		case t.stripAccents && r >= utf8.RuneSelf:
			e.nfd = norm.NFD.AppendString(e.nfd[:0], string(r))
			for _, d := range string(e.nfd) {
				if !unicode.Is(unicode.Mn, d) {
					e.char(d)
				}
			}
		default:
			e.char(r)
		}
	}
	e.endWord()
	return append(e.ids, t.suffix...)
}

// encoder is the state of one Encode: the ids so far and the word being read.
type encoder struct {
	t    *Tokenizer
	ids  []int
	word []byte
	nfd  []byte
}

// char adds a normalized character; punctuation is a word of its own.
func (e *encoder) char(r rune) {
	switch {
	case unicode.IsSpace(r): // a decomposition can end in one
		e.endWord()
	case isPunct(r):
		e.endWord()
		e.word = utf8.AppendRune(e.word, e.t.lower(r))
		e.endWord()
	case e.t.lowercase && r == 'İ': // the one unconditional lower-casing into two characters
		e.word = append(e.word, "i\u0307"...)
	default:
		e.word = utf8.AppendRune(e.word, e.t.lower(r))
	}
}

func (e *encoder) endWord() {
	if len(e.word) > 0 {
		e.ids = e.t.appendWord(e.ids, e.word)
		e.word = e.word[:0]
	}
}

func (t *Tokenizer) lower(r rune) rune {
	if t.lowercase {
		return unicode.ToLower(r)
	}
	return r
}

// appendWord appends a word's WordPiece ids: the longest vocabulary entry
// at each position, or a single unknown token if some position has none.
func (t *Tokenizer) appendWord(ids []int, word []byte) []int {
	if utf8.RuneCount(word) > t.maxWordChars {
		return append(ids, t.unk)
	}
	n := len(ids)
	for start := 0; start < len(word); {
		end, id := len(word), -1
		for ; end > start; end = lastBoundary(word[start:end]) + start {
			var found bool
			if start == 0 {
				id, found = t.vocab[string(word[:end])]
			} else {
				id, found = t.continuations[string(word[start:end])]
			}
			if found {
				break
			}
		}
		if end == start {
			return append(ids[:n], t.unk)
		}
		ids = append(ids, id)
		start = end
	}
	return ids
}

// lastBoundary is where the last character of b starts.
func lastBoundary(b []byte) int {
	_, size := utf8.DecodeLastRune(b)
	return len(b) - size
}

// isOther is what BERT's text cleaning drops: control, format and
// private-use characters, except the tab and line breaks. (Unassigned code
// points are kept, and become the unknown token, as in Hugging Face's.)
func isOther(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co)
}

// isPunct is BERT's punctuation: any ASCII punctuation or symbol, and
// Unicode punctuation.
func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' ' && r < 0x7f && !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}
	return unicode.IsPunct(r)
}

// isChinese is the CJK Unified Ideographs blocks BERT puts spaces around.
func isChinese(r rune) bool {
	return 0x4E00 <= r && r <= 0x9FFF || 0x3400 <= r && r <= 0x4DBF || 0x20000 <= r && r <= 0x2A6DF ||
		0x2A700 <= r && r <= 0x2B73F || 0x2B740 <= r && r <= 0x2B81F || 0x2B920 <= r && r <= 0x2CEAF ||
		0xF900 <= r && r <= 0xFAFF || 0x2F800 <= r && r <= 0x2FA1F
}
