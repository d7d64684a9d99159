import { describe, expect, it, vi } from "vitest";
import { block, listTitle, MAX_OTHERS, openConversation, parseRecipients, roomTitle, unblock } from "./dms";

describe("recipients of a new message", () => {
  it("reads names separated by commas or spaces, with or without @", () => {
    expect(parseRecipients(" @ann, bob  cy0,", "me1")).toEqual({ names: ["ann", "bob", "cy0"] });
  });
  it("refuses what the server would", () => {
    expect(parseRecipients("  ", "me1")).toHaveProperty("error");
    expect(parseRecipients("ann, ME1", "me1")).toEqual({ error: "Name the other people, not yourself." });
    expect(parseRecipients("ann, bob, Ann", "me1")).toEqual({ error: "Ann is named twice." });
    expect(parseRecipients("ann, b!b", "me1")).toEqual({ error: '"b!b" is not a username.' });
    const eight = Array.from({ length: MAX_OTHERS + 1 }, (_, i) => "user" + i).join(",");
    expect(parseRecipients(eight, "me1")).toHaveProperty("error");
    const seven = Array.from({ length: MAX_OTHERS }, (_, i) => "user" + i).join(",");
    expect(parseRecipients(seven, "me1")).toHaveProperty("names");
  });
});

describe("room titles", () => {
  const u = (username: string) => ({ id: username, username, display_name: username, role: "user" });
  it("titles a group by its other members, a 1:1 room by the peer, others by name", () => {
    expect(roomTitle({ kind: "group", name: "", members: [u("ann"), u("bob"), u("cy0")] })).toBe("ann, bob, cy0");
    expect(roomTitle({ kind: "direct", name: "", peer: u("ann"), members: [u("ann")] })).toBe("@ann");
    expect(roomTitle({ kind: "public", name: "general" })).toBe("# general");
    expect(roomTitle({ kind: "group", name: "", members: [] })).toMatch(/everyone else left/);
    expect(listTitle({ kind: "direct", name: "", peer: u("ann") })).toBe("@ ann");
    expect(listTitle({ kind: "group", name: "", members: [u("ann"), u("bob")] })).toBe("ann, bob");
  });
});

describe("requests", () => {
  it("opens a conversation by usernames and blocks by user id", async () => {
    const call = vi.fn().mockResolvedValue({});
    await openConversation({ call }, ["ann", "bob"]);
    await block({ call }, "id/1");
    await unblock({ call }, "id/1");
    expect(call.mock.calls).toEqual([
      ["POST", "/api/v1/dms", { usernames: ["ann", "bob"] }],
      ["PUT", "/api/v1/blocks/id%2F1"],
      ["DELETE", "/api/v1/blocks/id%2F1"],
    ]);
  });
});
