import { describe, expect, it } from "vitest";
import type { Message } from "./client";
import { avatarColour, dayLabel, initials, timeline } from "./timeline";

let n = 0;
function msg(user: string, at: string, extra: Partial<Message> = {}): Message {
  n++;
  return { id: "m" + n, room_id: "r", seq: n, user_id: user, username: user, text: "t" + n, created_at: new Date(at).toISOString(), ...extra };
}
const now = new Date(2026, 11, 6, 12, 0);
const local = (d: number, h: number, min = 0) => new Date(2026, 11, d, h, min).toISOString();
const shape = (rows: ReturnType<typeof timeline>) =>
  rows.map((r) => (r.kind === "message" ? (r.startsGroup ? "+" : "·") + r.m.user_id : r.kind === "day" ? "[" + r.label + "]" : "--new--"));

describe("timeline", () => {
  it("groups one author's consecutive messages and breaks on another author or a pause", () => {
    const ms = [msg("ada", local(6, 9)), msg("ada", local(6, 9, 4)), msg("bob", local(6, 9, 5)), msg("ada", local(6, 9, 6)), msg("ada", local(6, 9, 12))];
    expect(shape(timeline(ms, { now }))).toEqual(["[Today]", "+ada", "·ada", "+bob", "+ada", "+ada"]);
  });
  it("puts a date line where the day changes and starts a new group there", () => {
    const ms = [msg("ada", local(4, 23, 59)), msg("ada", local(5, 0, 1)), msg("ada", local(6, 8))];
    const rows = shape(timeline(ms, { now }));
    expect(rows[0]).toMatch(/^\[.*4/);
    expect(rows.slice(1)).toEqual(["+ada", "[Yesterday]", "+ada", "[Today]", "+ada"]);
  });
  it("marks the first new message once, and it starts a group", () => {
    const ms = [msg("ada", local(6, 9)), msg("ada", local(6, 9, 1)), msg("ada", local(6, 9, 2))];
    expect(shape(timeline(ms, { now, newFromSeq: ms[1].seq }))).toEqual(["[Today]", "+ada", "--new--", "+ada", "·ada"]);
    expect(shape(timeline(ms, { now, newFromSeq: ms[2].seq + 1 }))).not.toContain("--new--");
  });
  it("never marks the reader's own unsent message as new", () => {
    const ms = [msg("ada", local(6, 9)), msg("bob", local(6, 9, 1), { pending: true, seq: 0 })];
    expect(shape(timeline(ms, { now, newFromSeq: 0 }))).toEqual(["[Today]", "--new--", "+ada", "+bob"]);
  });
});

describe("labels and avatars", () => {
  it("names days relative to today, with the year only when it differs", () => {
    expect(dayLabel(new Date(2026, 11, 6, 1), now)).toBe("Today");
    expect(dayLabel(new Date(2026, 11, 5, 23), now)).toBe("Yesterday");
    expect(dayLabel(new Date(2026, 0, 1), new Date(2026, 0, 2))).toBe("Yesterday");
    expect(dayLabel(new Date(2025, 11, 31), now)).toMatch(/2025/);
    expect(dayLabel(new Date(2026, 10, 3), now)).not.toMatch(/2026/);
  });
  it("takes initials from the first two words", () => {
    expect(initials("Ada Lovelace")).toBe("AL");
    expect(initials("bob")).toBe("B");
    expect(initials("grace.hopper")).toBe("GH");
    expect(initials("émile zola extra")).toBe("ÉZ");
    expect(initials("  ")).toBe("?");
  });
  it("gives one person one colour", () => {
    expect(avatarColour("u1")).toBe(avatarColour("u1"));
    expect(new Set(["a", "b", "c", "d", "e", "f"].map(avatarColour)).size).toBeGreaterThan(1);
  });
});
