// Direct conversations: 1:1 ("direct") and group ("group", up to 8 people
// with the opener). The server refuses what these refuse too; checking
// here first says what is wrong before anything is sent.

import type { Api, Room, User } from "./api";

/** Others one may name in a new conversation: 8 people with oneself. */
export const MAX_OTHERS = 7;

/** A username as the server accepts it. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;

/**
 * The usernames typed into "New message" (separated by commas or spaces,
 * with or without @), or what is wrong with them.
 */
export function parseRecipients(text: string, me: string): { names: string[] } | { error: string } {
  const names = text.split(/[\s,]+/).map((n) => n.replace(/^@/, "")).filter(Boolean);
  if (names.length === 0) return { error: "Name at least one person." };
  if (names.length > MAX_OTHERS) return { error: `A conversation has at most ${MAX_OTHERS + 1} people: name at most ${MAX_OTHERS} others.` };
  const seen = new Set<string>();
  for (const n of names) {
    const key = n.toLowerCase();
    if (!USERNAME.test(n)) return { error: `"${n}" is not a username.` };
    if (key === me.toLowerCase()) return { error: "Name the other people, not yourself." };
    if (seen.has(key)) return { error: `${n} is named twice.` };
    seen.add(key);
  }
  return { names };
}

/** Opens (or finds) the conversation with the named people. */
export function openConversation(api: Pick<Api, "call">, names: string[]): Promise<Room> {
  return api.call<Room>("POST", "/api/v1/dms", { usernames: names });
}

/** Whether a room is a direct conversation, 1:1 or group. */
export const isConversation = (r: Pick<Room, "kind">) => r.kind === "direct" || r.kind === "group";

/** A room's title: "# name", "@ann" for 1:1, "ann, bob, cy" for a group. */
export function roomTitle(r: Pick<Room, "kind" | "name" | "peer" | "members">): string {
  if (r.kind === "direct") return "@" + (r.peer?.username ?? r.members?.[0]?.username ?? "direct");
  if (r.kind === "group") return r.members?.length ? r.members.map((m) => m.username).join(", ") : "Group conversation (everyone else left)";
  return "# " + r.name;
}

/** A room's entry in lists (the sidebar, search results): "@ ann" for 1:1. */
export function listTitle(r: Pick<Room, "kind" | "name" | "peer" | "members">): string {
  return r.kind === "direct" ? "@ " + roomTitle(r).slice(1) : roomTitle(r);
}

export interface Block { user: User; created_at: string }

export const listBlocks = async (api: Pick<Api, "call">) => (await api.call<{ blocked: Block[] }>("GET", "/api/v1/blocks")).blocked;
export const block = (api: Pick<Api, "call">, userId: string) => api.call<Block>("PUT", "/api/v1/blocks/" + encodeURIComponent(userId));
export const unblock = (api: Pick<Api, "call">, userId: string) => api.call<void>("DELETE", "/api/v1/blocks/" + encodeURIComponent(userId));
