// A small, safe Markdown subset for messages, parsed to a tree that the UI
// turns into React elements (never HTML strings): **bold**, *italics* or
// _italics_, `code`, ``` code blocks ```, > quotes, [links](https://…) and
// bare http(s) links, and @mentions. Anything that does not parse stays
// text, as typed.
//
// Every marker's closer is looked for with one forward search, and a search
// that finds none is remembered (no later opener of that kind can find one
// either), so unbalanced input costs linear time, not quadratic; nesting is
// capped, so nested input is linear too.

export type Inline =
  | { t: "text"; v: string }
  | { t: "b" | "i"; c: Inline[] }
  | { t: "code"; v: string }
  | { t: "link"; href: string; c: Inline[] }
  | { t: "mention"; name: string; me: boolean };

export type Block =
  | { t: "p"; c: Inline[] }
  | { t: "pre"; v: string }
  | { t: "quote"; c: Block[] };

/** Schemes a link may have; anything else (javascript:, data:, relative) stays text. */
const SCHEMES = new Set(["http:", "https:", "mailto:"]);

/** Deeper nesting of quotes or inline markers is shown as typed. */
const MAX_DEPTH = 4;

/** The href to use for a link target, or null when it is not a safe absolute link. */
export function safeHref(raw: string): string | null {
  const s = raw.trim();
  // Control characters and spaces would let a browser read a scheme differently.
  if (!s || /[\u0000-\u0020\u007f]/u.test(s)) return null;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return null;
  }
  if (!SCHEMES.has(u.protocol)) return null;
  // The scheme as typed must be the one the parser saw (no "java\tscript:").
  if (!s.toLowerCase().startsWith(u.protocol)) return null;
  return u.href;
}

export function parseMarkdown(text: string, me = ""): Block[] {
  return blocks(text.split("\n"), 0, me.toLowerCase());
}

function blocks(lines: string[], depth: number, me: string): Block[] {
  const out: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push({ t: "p", c: inline(para.join("\n"), me) });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trimStart().startsWith("```")) {
      // A fence runs to its closing fence, or to the end when there is none.
      flush();
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith("```")) body.push(lines[i++]);
      out.push({ t: "pre", v: body.join("\n") });
      continue;
    }
    if (depth < MAX_DEPTH && /^ {0,3}>/u.test(line)) {
      flush();
      const quoted: string[] = [];
      for (; i < lines.length && /^ {0,3}>/u.test(lines[i]); i++) quoted.push(lines[i].replace(/^ {0,3}> ?/u, ""));
      i--;
      out.push({ t: "quote", c: blocks(quoted, depth + 1, me) });
      continue;
    }
    if (line.trim() === "") flush();
    else para.push(line);
  }
  flush();
  return out;
}

const isWord = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);
const isSpace = (c: string | undefined) => c === undefined || /\s/u.test(c);
// Sticky: they match at lastIndex only, so no copy of the rest is made.
const MENTION = /@([A-Za-z0-9][A-Za-z0-9_.-]{0,31})/uy;
const BARE_URL = /https?:\/\/[^\s<>"]+/iuy;

/** Parses inline markup; `misses` remembers, per closer, where a search found none. */
function inline(s: string, me: string, depth = 0, inLink = false, misses: Map<string, number> = new Map()): Inline[] {
  const out: Inline[] = [];
  let text = "";
  const push = (n: Inline) => {
    if (text) out.push({ t: "text", v: text });
    text = "";
    out.push(n);
  };
  // find returns the index of the first closer at or after from, or -1.
  const find = (key: string, from: number, ok: (j: number) => boolean, needle: string): number => {
    const missed = misses.get(key);
    if (missed !== undefined && from >= missed) return -1;
    for (let j = s.indexOf(needle, from); j >= 0; j = s.indexOf(needle, j + 1)) if (ok(j)) return j;
    misses.set(key, Math.min(missed ?? Infinity, from));
    return -1;
  };
  // Inner text is parsed with its own memory: its end bounds the searches.
  const nested = (a: number, b: number, link = inLink) => inline(s.slice(a, b), me, depth + 1, link);
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "`") {
      const j = find("`", i + 1, () => true, "`");
      if (j > i + 1) {
        push({ t: "code", v: s.slice(i + 1, j) });
        i = j + 1;
        continue;
      }
    } else if (c === "*" && s[i + 1] === "*" && depth < MAX_DEPTH && !isSpace(s[i + 2])) {
      const j = find("**", i + 2, (j) => !isSpace(s[j - 1]) && j > i + 2, "**");
      if (j > 0) {
        push({ t: "b", c: nested(i + 2, j) });
        i = j + 2;
        continue;
      }
    } else if ((c === "*" || c === "_") && depth < MAX_DEPTH && !isSpace(s[i + 1]) && s[i + 1] !== c &&
      (c === "*" || !isWord(s[i - 1]))) {
      // A single marker closes at a single marker (not half of "**"), after
      // a non-space; "_" also needs a word boundary, so snake_case stays.
      const j = find(c, i + 1, (j) => j > i + 1 && !isSpace(s[j - 1]) && s[j + 1] !== c && s[j - 1] !== c &&
        (c === "*" || !isWord(s[j + 1])), c);
      if (j > 0) {
        push({ t: "i", c: nested(i + 1, j) });
        i = j + 1;
        continue;
      }
    } else if (c === "[" && !inLink && depth < MAX_DEPTH) {
      const close = find("]", i + 1, (j) => s[j + 1] === "(", "](");
      const end = close > 0 ? find(")", close + 2, () => true, ")") : -1;
      const href = end > 0 ? safeHref(s.slice(close + 2, end)) : null;
      if (href && close > i + 1) {
        push({ t: "link", href, c: nested(i + 1, close, true) });
        i = end + 1;
        continue;
      }
    } else if (c === "@" && !isWord(s[i - 1])) {
      MENTION.lastIndex = i;
      const m = MENTION.exec(s);
      if (m) {
        const name = m[1].replace(/[.-]+$/u, ""); // "@ada." ends a sentence
        push({ t: "mention", name, me: !!me && name.toLowerCase() === me });
        i += 1 + name.length;
        continue;
      }
    } else if ((c === "h" || c === "H") && !inLink && !isWord(s[i - 1])) {
      BARE_URL.lastIndex = i;
      const m = BARE_URL.exec(s);
      if (m) {
        const raw = m[0].replace(/[.,;:!?)\]'*_]+$/u, ""); // trailing punctuation belongs to the sentence
        const href = safeHref(raw);
        if (href) {
          push({ t: "link", href, c: [{ t: "text", v: raw }] });
          i += raw.length;
          continue;
        }
      }
    }
    text += c;
    i++;
  }
  if (text) out.push({ t: "text", v: text });
  return out;
}

/** Whether a message mentions the user (for highlighting the whole row). */
export function mentions(blocks: Block[], me: string): boolean {
  me = me.toLowerCase();
  const inl = (xs: Inline[]): boolean => xs.some((x) => (x.t === "mention" ? x.name.toLowerCase() === me : "c" in x ? inl(x.c) : false));
  const blk = (bs: Block[]): boolean => bs.some((b) => (b.t === "p" ? inl(b.c) : b.t === "quote" ? blk(b.c) : false));
  return !!me && blk(blocks);
}
