import type { ReactNode } from "react";
import { type Block, type Inline } from "../../lib/markdown";

// Renders the parsed tree as React elements: every piece of the message
// reaches the page as a text node or an attribute React escapes, so markup
// in a message stays text.

function inlines(xs: Inline[]): ReactNode[] {
  return xs.map((x, i) => {
    switch (x.t) {
      case "text": return x.v;
      case "b": return <strong key={i}>{inlines(x.c)}</strong>;
      case "i": return <em key={i}>{inlines(x.c)}</em>;
      case "code": return <code key={i} className="rounded bg-gray-100 px-1 font-mono text-[0.9em] dark:bg-gray-800">{x.v}</code>;
      case "link": return <a key={i} href={x.href} target="_blank" rel="noopener noreferrer" className="text-indigo-700 underline dark:text-indigo-300">{inlines(x.c)}</a>;
      case "mention": return (
        <span key={i} data-mention={x.me ? "me" : "other"}
          className={x.me ? "rounded bg-amber-200 px-0.5 font-semibold text-amber-950 dark:bg-amber-700 dark:text-white" : "rounded bg-indigo-50 px-0.5 text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200"}>
          @{x.name}
        </span>
      );
    }
  });
}

/** The blocks of a message; `tail` (e.g. "(edited)") goes at the end of the last paragraph. */
export function Markdown({ blocks, tail }: { blocks: Block[]; tail?: ReactNode }) {
  const last = blocks.length - 1;
  const render = (bs: Block[], top: boolean): ReactNode[] => bs.map((b, i) => {
    const end = top && i === last ? tail : null;
    switch (b.t) {
      case "p": return <p key={i} className="whitespace-pre-wrap break-words">{inlines(b.c)}{end}</p>;
      // A code block may scroll sideways; tabIndex lets a keyboard reach and scroll it.
      case "pre": return <div key={i}><pre tabIndex={0} className="my-1 overflow-x-auto rounded bg-gray-100 p-2 font-mono text-sm dark:bg-gray-900"><code>{b.v}</code></pre>{end}</div>;
      case "quote": return <div key={i}><blockquote className="my-1 border-l-4 border-gray-300 pl-2 text-gray-700 dark:border-gray-700 dark:text-gray-300">{render(b.c, false)}</blockquote>{end}</div>;
    }
  });
  return <>{render(blocks, true)}</>;
}
