// Message search (GET /api/v1/search). Excerpts come as plain-text
// fragments with the matches marked: they are shown as text, never as
// markup, so nothing a message says can become HTML.

export interface SearchFragment { text: string; match?: boolean }

export interface SearchHit {
  message_id: string;
  room_id: string;
  seq: number;
  user_id: string;
  username: string;
  created_at: string;
  edited_at?: string;
  excerpt: SearchFragment[];
}

export interface SearchPage { hits: SearchHit[]; next_cursor: string }

/** The connector's limit on a query, in characters. */
export const MAX_QUERY_CHARS = 200;

/** The URL of a page of results; null, with the reason, for a query the server would refuse. */
export function searchPath(q: string, cursor = "", roomId = ""): { path: string } | { error: string } {
  const query = q.trim();
  if (!query) return { error: "Type something to search for." };
  if ([...query].length > MAX_QUERY_CHARS) return { error: `Search for at most ${MAX_QUERY_CHARS} characters.` };
  const p = new URLSearchParams({ q: query });
  if (cursor) p.set("cursor", cursor);
  if (roomId) p.set("room_id", roomId);
  return { path: "/api/v1/search?" + p.toString() };
}
