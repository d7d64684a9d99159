import { describe, expect, it } from "vitest";
import { hasNewReplies, replyCount, replySummary, topLevel } from "./threads";
import type { Thread } from "./contract.gen";

const thread = (n: number, lastSeq: number, by = "u2"): Thread => ({
  reply_count: n, last_reply_seq: lastSeq, last_reply_at: "2026-03-04T10:42:00Z", last_reply_user_id: by, last_reply_username: "bob", participants: ["u1", by],
});

describe("threads", () => {
  it("keeps replies out of the room", () => {
    expect(topLevel([{ id: "a" }, { id: "b", thread_id: "a" }, { id: "c" }]).map((m) => m.id)).toEqual(["a", "c"]);
  });

  it("says how many replies and when the last came", () => {
    expect(replyCount(thread(1, 2))).toBe("1 reply");
    expect(replyCount(thread(3, 2))).toBe("3 replies");
    expect(replySummary(thread(3, 9), new Date("2026-03-04T12:00:00Z"))).toMatch(/^3 replies · last reply \d/);
    expect(replySummary({ ...thread(2, 9), last_reply_at: "" })).toBe("2 replies");
  });

  it("marks a thread the user takes part in with others' replies newer than their read position", () => {
    const root = { id: "r1", thread: thread(2, 5) };
    expect(hasNewReplies(root, "u1", undefined)).toBe(true); // never read
    expect(hasNewReplies(root, "u1", 5)).toBe(false);
    expect(hasNewReplies({ id: "r1", thread: thread(3, 7) }, "u1", 5)).toBe(true);
    expect(hasNewReplies({ id: "r1", thread: thread(3, 7, "u1") }, "u1", 5)).toBe(false); // my own reply
    expect(hasNewReplies({ id: "r1", thread: thread(3, 7) }, "u9", undefined)).toBe(false); // not a participant
    expect(hasNewReplies({ id: "r2" }, "u1", undefined)).toBe(false);
  });
});
