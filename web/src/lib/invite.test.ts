import { describe, expect, it } from "vitest";
import type { User } from "./api";
import { inviteByName } from "./invite";

function server(users: Partial<User>[]) {
  const calls: { method: string; path: string; body?: unknown }[] = [];
  const api = {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push({ method, path, body });
      if (path.startsWith("/api/v1/users?prefix=")) return { users } as T;
      return undefined as T;
    },
  };
  return { api, calls };
}

describe("inviteByName", () => {
  it("invites the exact username, whatever its case or a leading @", async () => {
    const { api, calls } = server([{ id: "u1", username: "bobby" }, { id: "u2", username: "Bob" }]);
    await expect(inviteByName(api, "r1", " @bob ")).resolves.toBe("Invited Bob.");
    expect(calls[0].path).toBe("/api/v1/users?prefix=bob");
    expect(calls[1]).toEqual({ method: "POST", path: "/api/v1/rooms/r1/invites", body: { user_id: "u2" } });
  });
  it("tells the inviter when no one has that name, and invites no one", async () => {
    const { api, calls } = server([{ id: "u1", username: "bobby" }]);
    await expect(inviteByName(api, "r1", "bob")).rejects.toThrow("No user is called “bob”.");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });
  it("asks for a name when none is typed", async () => {
    const { api, calls } = server([]);
    await expect(inviteByName(api, "r1", "  ")).rejects.toThrow("Type the username");
    expect(calls).toEqual([]);
  });
});
