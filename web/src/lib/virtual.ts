// The arithmetic of a windowed list: rows of known or estimated heights
// stacked from 0, and which of them a viewport (plus some overscan) shows.
// Only those rows are in the DOM; padding above and below stands in for
// the rest, so a room of 10,000 messages renders a few dozen elements.

/** offsets[i] is the top of row i; offsets[n] the height of all rows. */
export function offsets(heights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(heights.length + 1);
  for (let i = 0; i < heights.length; i++) out[i + 1] = out[i] + heights[i];
  return out;
}

/** The index of the row at y (the last row whose top is at or above y). */
export function rowAt(offs: Float64Array, y: number): number {
  const n = offs.length - 1;
  if (n <= 0) return 0;
  let lo = 0, hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offs[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The rows [start, end) to render for a viewport at scrollTop, overscan px beyond each edge. */
export function visibleRange(offs: Float64Array, scrollTop: number, viewport: number, overscan: number): [number, number] {
  const n = offs.length - 1;
  if (n <= 0) return [0, 0];
  const start = rowAt(offs, Math.max(0, scrollTop - overscan));
  const end = Math.min(n, rowAt(offs, scrollTop + viewport + overscan) + 1);
  return [start, end];
}

/**
 * Where to scroll so the anchor row (by key) stays where the reader saw it
 * after rows were added above it or re-measured: its new top, less how far
 * into it the viewport's top was. null when the anchor is gone.
 */
export function anchoredScrollTop(keys: readonly string[], offs: Float64Array, anchor: { key: string; delta: number } | null, index?: Map<string, number>): number | null {
  if (!anchor) return null;
  const i = index ? index.get(anchor.key) : keys.indexOf(anchor.key);
  if (i === undefined || i < 0) return null;
  return offs[i] + anchor.delta;
}
