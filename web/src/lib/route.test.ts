import { describe, expect, it } from "vitest";
import { hashForRoom, roomFromHash } from "./route";

describe("room in the URL hash", () => {
  it("round-trips a room id", () => {
    for (const id of ["0195f1c2-aaaa-7bbb-8ccc-123456789abc", "a b&c=d#e"]) expect(roomFromHash(hashForRoom(id))).toBe(id);
  });
  it("reads the hash a push notification opens", () => {
    expect(roomFromHash("#room=r1")).toBe("r1");
    expect(roomFromHash("room=r1&x=1")).toBe("r1");
  });
  it("has no room when the hash names none", () => {
    expect(roomFromHash("")).toBeNull();
    expect(roomFromHash("#room=")).toBeNull();
    expect(roomFromHash("#other=1")).toBeNull();
    expect(hashForRoom(null)).toBe("");
  });
});
