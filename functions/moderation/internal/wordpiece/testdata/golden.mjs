// Writes golden.json: the ids Hugging Face's own JavaScript tokenizers
// (@huggingface/tokenizers 0.2.0) give for tokenizer.json and a few
// thousand texts built from characters each BERT rule is about. The Go
// tests hold package wordpiece to them.
//
// Regenerate (from this folder):
//   npm install --no-save @huggingface/tokenizers@0.2.0 && node golden.mjs && rm -rf node_modules
import { Tokenizer } from "@huggingface/tokenizers";
import { readFileSync, writeFileSync } from "node:fs";

const here = (f) => new URL(f, import.meta.url);
const tokenizer = new Tokenizer(JSON.parse(readFileSync(here("tokenizer.json"))), {});
const vocab = Object.keys(JSON.parse(readFileSync(here("tokenizer.json"))).model.vocab).filter((w) => !w.startsWith("["));

const fragments = [
  " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u200b", "\u200d", "\ufeff", "\ue000", "\u00ad",
  "Hello", "WORLD", "Caf\u00e9", "cafe\u0301", "na\u00efve", "NA\u00cfVE", "\u00c5ngstr\u00f6m", "\ufb01", "\u0130stanbul",
  "\u0131i", "KELVIN \u212a", "Stra\u00dfe", "\u03a3\u039f\u03a6\u038a\u0391", "\u4e2d\u6587", "\u6f22\u5b57\u304b\u306a",
  "\ud55c\uad6d\uc5b4", "\u{1f600}", "\u{1f44d}\u{1f3fd}", "e\u0301\u0302", "\u037e", "\u00a8", "\uff57\uff4f\uff52\uff4c\uff44",
  "\u2460", "!", "?", "...", "don't", "@you", "#tag", "$5", "a+b=c", "~`^|<>", "\u00abquoted\u00bb", "\u2014", "\u00bfqu\u00e9?",
  "1,000.50", "unbelievable", "playing", "plays", "w12", "w3w4", "x", "x".repeat(99), "x".repeat(101), "\u00e9".repeat(101),
  "\u0600", "\u0378", "\u{e0001}", "\u{10ffff}", "\u0085", "\u000b", "\u001f", "\u007f",
];

// mulberry32: a small seeded generator, so the file only changes when this script does.
let seed = 20261126;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list) => list[Math.floor(random() * list.length)];

// No text puts a capital sigma at the end of a word: JavaScript lower-cases
// it to the final form, Hugging Face's Rust tokenizers (character by
// character) do not.

// What the moderation function hands its tokenizer (classify.Sanitize):
// C0 and C1 control characters are spaces.
const sanitize = (s) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");

const texts = [...fragments];
for (let i = 0; i < 1500; i++) {
  let text = "";
  const n = 1 + Math.floor(random() * 12);
  for (let j = 0; j < n; j++) {
    text += random() < 1 / 3 ? pick(vocab) : pick(fragments);
    if (random() < 0.5) text += " ";
  }
  texts.push(text);
}
const cases = texts.map(sanitize).map((text) => ({ text, ids: tokenizer.encode(text).ids }));
writeFileSync(here("golden.json"), "[\n" + cases.map((c) => JSON.stringify(c)).join(",\n") + "\n]\n");
console.log(`wrote ${cases.length} cases`);
