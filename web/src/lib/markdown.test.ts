import { describe, expect, it } from "vitest";
import { mentions, parseMarkdown, safeHref, type Block, type Inline } from "./markdown";

const para = (text: string, me = "") => {
  const bs = parseMarkdown(text, me);
  expect(bs).toHaveLength(1);
  expect(bs[0].t).toBe("p");
  return (bs[0] as { c: Inline[] }).c;
};
/** All text a reader sees, markers removed. */
const flat = (xs: Inline[]): string => xs.map((x) => (x.t === "text" || x.t === "code" ? x.v : x.t === "mention" ? "@" + x.name : flat(x.c))).join("");
const links = (bs: Block[]): string[] => {
  const out: string[] = [];
  const inl = (xs: Inline[]) => xs.forEach((x) => (x.t === "link" ? out.push(x.href) : "c" in x && inl(x.c)));
  const blk = (b: Block[]) => b.forEach((x) => (x.t === "p" ? inl(x.c) : x.t === "quote" && blk(x.c)));
  blk(bs);
  return out;
};

describe("markdown", () => {
  it("parses bold, italics and inline code", () => {
    expect(para("a **b** *c* _d_ `e*f*`")).toEqual([
      { t: "text", v: "a " }, { t: "b", c: [{ t: "text", v: "b" }] }, { t: "text", v: " " },
      { t: "i", c: [{ t: "text", v: "c" }] }, { t: "text", v: " " }, { t: "i", c: [{ t: "text", v: "d" }] },
      { t: "text", v: " " }, { t: "code", v: "e*f*" },
    ]);
  });
  it("nests italics in bold", () => {
    expect(para("**bold *and* more**")).toEqual([{ t: "b", c: [{ t: "text", v: "bold " }, { t: "i", c: [{ t: "text", v: "and" }] }, { t: "text", v: " more" }] }]);
  });
  it("keeps snake_case, lone stars and spaced markers as text", () => {
    for (const s of ["snake_case_name", "2 * 3 * 4", "** not bold **", "a*", "*", "**", "``", "_ x _"]) expect(para(s)).toEqual([{ t: "text", v: s }]);
  });
  it("leaves unbalanced and crossed markers as text, without losing a character", () => {
    for (const s of ["**open", "*open", "`open", "[open", "[a](https://x.org", "**a *b** c*", "*a **b* c**", "_a *b_ c*"]) {
      expect(flat(para(s)).length).toBeGreaterThanOrEqual(s.replace(/[*_`]/g, "").length);
    }
    expect(para("**open")).toEqual([{ t: "text", v: "**open" }]);
  });
  it("parses code blocks, also unclosed, without markup inside", () => {
    expect(parseMarkdown("before\n```\n**x** <b>\n  y\n```\nafter")).toEqual([
      { t: "p", c: [{ t: "text", v: "before" }] }, { t: "pre", v: "**x** <b>\n  y" }, { t: "p", c: [{ t: "text", v: "after" }] },
    ]);
    expect(parseMarkdown("```js\nrest")).toEqual([{ t: "pre", v: "rest" }]);
  });
  it("parses quotes, nested ones too", () => {
    expect(parseMarkdown("> a\n> > b\nc")).toEqual([
      { t: "quote", c: [{ t: "p", c: [{ t: "text", v: "a" }] }, { t: "quote", c: [{ t: "p", c: [{ t: "text", v: "b" }] }] }] },
      { t: "p", c: [{ t: "text", v: "c" }] },
    ]);
  });
  it("keeps line breaks in a paragraph and splits on blank lines", () => {
    expect(parseMarkdown("a\nb\n\nc").map((b) => b.t === "p" && flat(b.c))).toEqual(["a\nb", "c"]);
  });
  it("links http, https and mailto, bare or with a label", () => {
    expect(para("see [the docs](https://example.org/a?b=1) or https://x.org/y.")).toEqual([
      { t: "text", v: "see " }, { t: "link", href: "https://example.org/a?b=1", c: [{ t: "text", v: "the docs" }] },
      { t: "text", v: " or " }, { t: "link", href: "https://x.org/y", c: [{ t: "text", v: "https://x.org/y" }] }, { t: "text", v: "." },
    ]);
    expect(links(parseMarkdown("[mail me](mailto:ada@example.org) [**b**](HTTP://X.ORG)"))).toEqual(["mailto:ada@example.org", "http://x.org/"]);
  });
  it("refuses every other scheme: the source stays text", () => {
    const hostile = [
      "[x](javascript:alert(1))", "[x](JavaScript:alert(1))", "[x]( javascript:alert(1))", "[x](java\tscript:alert(1))",
      "[x](data:text/html,<script>alert(1)</script>)", "[x](vbscript:msgbox)", "[x](//evil.example)", "[x](/relative)",
      "[x](file:///etc/passwd)", "javascript:alert(1)", "[x](ftp://a.example/f)", "[x](\u0000javascript:alert(1))",
    ];
    for (const s of hostile) {
      const bs = parseMarkdown(s);
      expect(links(bs), s).toEqual([]);
      expect(bs.map((b) => (b.t === "p" ? flat(b.c) : "")).join(""), s).toBe(s);
    }
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("https://ok.example/")).toBe("https://ok.example/");
  });
  it("keeps HTML as text", () => {
    expect(para(`<img src=x onerror=alert(1)>`)).toEqual([{ t: "text", v: "<img src=x onerror=alert(1)>" }]);
    expect(para(`<script>alert("x")</script>`)).toEqual([{ t: "text", v: `<script>alert("x")</script>` }]);
  });
  it("marks mentions, the reader's own apart", () => {
    expect(para("hi @Ada and @bob.", "ada")).toEqual([
      { t: "text", v: "hi " }, { t: "mention", name: "Ada", me: true }, { t: "text", v: " and " },
      { t: "mention", name: "bob", me: false }, { t: "text", v: "." },
    ]);
    expect(para("mail ada@example.org", "example.org")).toEqual([{ t: "text", v: "mail ada@example.org" }]);
    expect(mentions(parseMarkdown("> **@ada** look"), "ada")).toBe(true);
    expect(mentions(parseMarkdown("@adam"), "ada")).toBe(false);
  });
  it("caps nesting: deep quotes and markers stay text", () => {
    const deep = ">".repeat(50) + " x";
    let b: Block[] = parseMarkdown(deep), depth = 0;
    while (b[0].t === "quote") { b = b[0].c; depth++; }
    expect(depth).toBeLessThanOrEqual(4);
    expect(flat(para("*".repeat(20) + "x" + "*".repeat(20))).length).toBeGreaterThan(0);
  });
  it("parses huge hostile inputs in linear time", () => {
    const n = 200_000;
    const inputs = [
      "*a ".repeat(n / 3), "**a ".repeat(n / 4), "[a".repeat(n / 2), "[a](".repeat(n / 4), "`".repeat(n) + "a",
      "_a ".repeat(n / 3), "@".repeat(n), "h".repeat(n), "https://" + "a".repeat(n), "> ".repeat(n / 2),
      "**a *b ".repeat(n / 7), "[x](javascript:".repeat(n / 15), "*".repeat(n), "\n".repeat(n), "```\n".repeat(n / 4),
    ];
    for (const s of inputs) {
      const t0 = performance.now();
      const bs = parseMarkdown(s);
      const ms = performance.now() - t0;
      // Quadratic work on 200,000 characters takes minutes; linear, milliseconds.
      expect(ms, s.slice(0, 12)).toBeLessThan(2000);
      expect(bs.length).toBeGreaterThanOrEqual(0);
    }
  });
});
