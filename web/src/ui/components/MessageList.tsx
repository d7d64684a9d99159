import { useLayoutEffect, useMemo, useRef, useState, type ReactElement, type RefObject } from "react";
import { anchoredScrollTop, offsets, rowAt, visibleRange } from "../../lib/virtual";

/** The list's own padding (p-3): rows start this far below the scroll top. */
const PAD = 12;

/**
 * A windowed message list: only the rows in and near the viewport are in
 * the DOM, the rest is padding of their measured (or, until seen,
 * estimated) heights. The row the reader looks at stays put when rows are
 * added above it (older history) or change height; at the bottom, the list
 * follows new rows. Near the top it asks for older rows.
 *
 * The list is a flex column so row margins never collapse: a row's height
 * plus its margins is exactly the room it takes. The stand-in space is two
 * empty items rather than the list's padding, since a scroll container
 * cannot be shorter than its padding.
 */
export function MessageList<R extends { key: string }>({ rows, render, estimate, listRef, stick, onScrolled, onNearTop }: {
  rows: readonly R[];
  render: (row: R) => ReactElement;
  estimate: (row: R) => number;
  listRef: RefObject<HTMLOListElement | null>;
  /** True while the reader is at the bottom: the list then keeps to it. */
  stick: RefObject<boolean>;
  onScrolled: (el: HTMLOListElement) => void;
  onNearTop: () => void;
}) {
  const heights = useRef(new Map<string, number>());
  const [measured, setMeasured] = useState(0);
  const [range, setRange] = useState<[number, number]>([Math.max(0, rows.length - 40), rows.length]);
  const anchor = useRef<{ key: string; delta: number } | null>(null);
  const keys = useMemo(() => rows.map((r) => r.key), [rows]);
  const index = useMemo(() => new Map(keys.map((k, i) => [k, i])), [keys]);
  // heights is a ref; measured counts its changes.
  const offs = useMemo(() => offsets(rows.map((r) => heights.current.get(r.key) ?? estimate(r))), [rows, measured, estimate]);
  const [start, end] = [Math.min(range[0], rows.length), Math.min(range[1], rows.length)];

  // The rows the viewport shows and where in them it stands.
  const follow = (el: HTMLOListElement) => {
    const top = el.scrollTop - PAD;
    const i = rowAt(offs, Math.max(0, top));
    if (keys[i] !== undefined) anchor.current = { key: keys[i], delta: top - offs[i] };
    const next = visibleRange(offs, top, el.clientHeight, el.clientHeight);
    if (next[0] !== range[0] || next[1] !== range[1]) setRange(next);
    if (el.scrollTop < el.clientHeight * 1.5) onNearTop();
  };

  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    // Measure what was rendered; a changed height re-renders before paint.
    let changed = false;
    for (let j = 0; j + 1 < el.children.length - 1 && start + j < end; j++) {
      const li = el.children[j + 1] as HTMLElement, key = keys[start + j]; // after the space above
      const cs = getComputedStyle(li);
      const h = li.offsetHeight + parseFloat(cs.marginTop) + parseFloat(cs.marginBottom);
      if (Math.abs((heights.current.get(key) ?? -1) - h) > 0.5) {
        heights.current.set(key, h);
        changed = true;
      }
    }
    if (changed) {
      setMeasured((n) => n + 1);
      return;
    }
    if (stick.current) el.scrollTop = el.scrollHeight;
    else {
      const want = anchoredScrollTop(keys, offs, anchor.current, index);
      if (want !== null && Math.abs(el.scrollTop - PAD - want) > 1) el.scrollTop = want + PAD;
    }
    follow(el);
  });

  return (
    <ol ref={listRef} tabIndex={0} onScroll={(e) => { onScrolled(e.currentTarget); follow(e.currentTarget); }} aria-label="Messages"
      className="flex min-h-0 flex-1 flex-col overflow-y-auto p-3 [&>li]:shrink-0" style={{ overflowAnchor: "none" }}>
      <li aria-hidden="true" style={{ height: offs[start] }} />
      {rows.slice(start, end).map(render)}
      <li aria-hidden="true" style={{ height: offs[rows.length] - offs[end] }} />
    </ol>
  );
}
