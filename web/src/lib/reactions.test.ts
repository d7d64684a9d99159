import { describe, expect, it } from "vitest";
import { applyReaction, reacted, whoReacted } from "./reactions";
import type { Reaction } from "./contract.gen";

describe("applyReaction", () => {
  it("adds and removes as the server does: once each, the emoji going with its last user", () => {
    const m: { reactions?: Reaction[] } = {};
    expect(applyReaction(m, "👍", "a", "add")).toBe(true);
    expect(applyReaction(m, "👍", "a", "add")).toBe(false); // the echo of our own
    expect(applyReaction(m, "🎉", "b", "add")).toBe(true);
    expect(applyReaction(m, "👍", "b", "add")).toBe(true);
    expect(m.reactions).toEqual([{ emoji: "👍", user_ids: ["a", "b"] }, { emoji: "🎉", user_ids: ["b"] }]);
    expect(reacted(m, "👍", "b")).toBe(true);
    expect(reacted(m, "🎉", "a")).toBe(false);
    expect(applyReaction(m, "👍", "a", "remove")).toBe(true);
    expect(applyReaction(m, "👍", "a", "remove")).toBe(false);
    expect(applyReaction(m, "🎉", "b", "remove")).toBe(true);
    expect(m.reactions).toEqual([{ emoji: "👍", user_ids: ["b"] }]);
    expect(applyReaction(m, "👍", "b", "remove")).toBe(true);
    expect(m.reactions).toBeUndefined();
    expect(applyReaction(m, "👍", "b", "toggle")).toBe(false);
  });
  it("never changes the lists it was given, so a render that kept them is not changed under it", () => {
    const before = [{ emoji: "👍", user_ids: ["a"] }];
    const m = { reactions: before };
    applyReaction(m, "👍", "b", "add");
    expect(before).toEqual([{ emoji: "👍", user_ids: ["a"] }]);
  });
});

describe("whoReacted", () => {
  it("names people, you first as you", () => {
    const names = { a: "Ada", b: "Bob" };
    expect(whoReacted(["me"], "me", names)).toBe("you");
    expect(whoReacted(["a", "me"], "me", names)).toBe("Ada and you");
    expect(whoReacted(["a", "b", "gone"], "me", names)).toBe("Ada, Bob and someone");
  });
});
