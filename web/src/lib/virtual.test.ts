import { describe, expect, it } from "vitest";
import { anchoredScrollTop, offsets, rowAt, visibleRange } from "./virtual";

describe("virtual list arithmetic", () => {
  const offs = offsets([10, 20, 30, 40]); // tops 0, 10, 30, 60; total 100
  it("stacks rows", () => {
    expect([...offs]).toEqual([0, 10, 30, 60, 100]);
  });
  it("finds the row at a height", () => {
    expect([0, 9, 10, 29, 30, 99, 100, 500, -5].map((y) => rowAt(offs, y))).toEqual([0, 0, 1, 1, 2, 3, 3, 3, 0]);
    expect(rowAt(offsets([]), 10)).toBe(0);
  });
  it("renders the rows in the viewport and the overscan only", () => {
    expect(visibleRange(offs, 30, 20, 0)).toEqual([2, 3]);
    expect(visibleRange(offs, 30, 31, 0)).toEqual([2, 4]);
    expect(visibleRange(offs, 30, 20, 15)).toEqual([1, 4]);
    expect(visibleRange(offsets([]), 0, 100, 100)).toEqual([0, 0]);
  });
  it("keeps a long room's DOM small", () => {
    const big = offsets(Array.from({ length: 10_000 }, () => 28));
    const [a, b] = visibleRange(big, 5000 * 28, 800, 800);
    expect(b - a).toBeLessThan(100);
    expect(a).toBeLessThanOrEqual(5000);
    expect(b).toBeGreaterThan(5000 + 800 / 28);
  });
  it("keeps the row the reader looks at in place when rows are added above it", () => {
    const before = ["c", "d", "e"], after = ["a", "b", "c", "d", "e"];
    const anchor = { key: "d", delta: 5 }; // 5 px into row d
    expect(anchoredScrollTop(before, offsets([20, 20, 20]), anchor)).toBe(25);
    expect(anchoredScrollTop(after, offsets([50, 50, 20, 20, 20]), anchor)).toBe(125);
    expect(anchoredScrollTop(after, offsets([50, 50, 20, 20, 20]), { key: "gone", delta: 0 })).toBeNull();
    expect(anchoredScrollTop(after, offsets([50, 50, 20, 20, 20]), anchor, new Map(after.map((k, i) => [k, i])))).toBe(125);
  });
});
