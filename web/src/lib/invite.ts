import type { User } from "./api";

interface Caller {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

/**
 * Invites the user with exactly this username (any case) and returns what to
 * tell the inviter. The user search matches prefixes, so "bo" must not invite
 * "bob": a name that matches no one exactly is an error the inviter sees.
 */
export async function inviteByName(api: Caller, roomId: string, name: string): Promise<string> {
  const wanted = name.trim().replace(/^@/, "");
  if (!wanted) throw new Error("Type the username of the person to invite.");
  const found = await api.call<{ users: User[] }>("GET", "/api/v1/users?prefix=" + encodeURIComponent(wanted));
  const user = found.users.find((u) => u.username.toLowerCase() === wanted.toLowerCase());
  if (!user) throw new Error(`No user is called “${wanted}”.`);
  await api.call("POST", `/api/v1/rooms/${encodeURIComponent(roomId)}/invites`, { user_id: user.id });
  return `Invited ${user.username}.`;
}
