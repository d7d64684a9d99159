import { describe, expect, it } from "vitest";
import type { Message } from "./client";
import { badgeText, UnreadCounts } from "./unread";

const msg = (seq: number, user = "ada", room = "r"): Message =>
  ({ id: "m" + seq, room_id: room, seq, user_id: user, username: user, text: "x", created_at: "" });

describe("unread counts", () => {
  it("starts from the server's counts and adds others' live messages after them", () => {
    const u = new UnreadCounts("bob");
    u.set("r", { read_seq: 3, messages: 2, up_to: 5, mentions: [4] });
    expect(u.message(msg(5))).toBe(false); // already counted
    expect(u.message(msg(6, "bob"))).toBe(false); // our own
    expect(u.message(msg(7))).toBe(true);
    expect(u.message(msg(7))).toBe(false); // a duplicate
    expect(u.badge("r")).toEqual({ messages: 3, more: false, mentions: 1 });
  });

  it("clears when a read anywhere comes back, keeping what arrived after it", () => {
    const u = new UnreadCounts("bob");
    u.set("r", { read_seq: 0, messages: 4, up_to: 4, mentions: [2] });
    u.message(msg(5));
    u.message(msg(6));
    u.mention("r", 6);
    // Another tab read up to 5; message 6 crossed the frame.
    u.set("r", { read_seq: 5, messages: 0, up_to: 5, mentions: [] });
    expect(u.badge("r")).toEqual({ messages: 1, more: false, mentions: 1 });
    u.set("r", { read_seq: 6, messages: 0, up_to: 6, mentions: [] });
    expect(u.badge("r")).toEqual({ messages: 0, more: false, mentions: 0 });
  });

  it("counts a mention once whether the server or the live notification told us first", () => {
    const u = new UnreadCounts("bob");
    u.set("r", { read_seq: 1, messages: 1, up_to: 2, mentions: [] });
    expect(u.mention("r", 2)).toBe(true);
    u.set("r", { read_seq: 1, messages: 1, up_to: 2, mentions: [2] }); // a reconnect's subscribed
    expect(u.mention("r", 2)).toBe(false);
    expect(u.mention("r", 1)).toBe(false); // already read
    expect(u.badge("r").mentions).toBe(1);
  });

  it("ignores rooms it has no counts for, and forgets rooms left", () => {
    const u = new UnreadCounts("bob");
    expect(u.message(msg(1, "ada", "q"))).toBe(false);
    u.set("q", { read_seq: 0, messages: 1, up_to: 1, mentions: [] });
    u.forget("q");
    expect(u.badge("q")).toEqual({ messages: 0, more: false, mentions: 0 });
  });

  it("says what the badge shows", () => {
    expect(badgeText({ messages: 0, more: false, mentions: 0 }).text).toBe("");
    expect(badgeText({ messages: 1, more: false, mentions: 0 })).toEqual({ text: "1", label: "1 unread message", urgent: false });
    expect(badgeText({ messages: 500, more: true, mentions: 2 })).toEqual({ text: "@2 · 500+", label: "500+ unread messages, 2 mentions", urgent: true });
    // In a direct room every message is a mention: the count alone, urgent.
    expect(badgeText({ messages: 2, more: false, mentions: 2 }, true)).toEqual({ text: "2", label: "2 unread messages", urgent: true });
  });
});
