import { useState, type FormEvent } from "react";
import { ApiError, type Room } from "../../lib/api";
import { MAX_QUERY_CHARS, searchPath, type SearchHit, type SearchPage } from "../../lib/search";
import { api } from "../session";
import { listTitle } from "../../lib/dms";

/** Searches the messages of the caller's rooms; a result opens its room. */
export function Search({ rooms, onOpen }: { rooms: Room[]; onOpen: (roomId: string) => void }) {
  const [q, setQ] = useState("");
  const [asked, setAsked] = useState("");
  const [hits, setHits] = useState<SearchHit[]>([]);
  const [cursor, setCursor] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const fetchPage = async (query: string, after: string) => {
    const p = searchPath(query, after);
    if ("error" in p) {
      setError(p.error);
      return;
    }
    setBusy(true);
    setError("");
    try {
      const page = await api.call<SearchPage>("GET", p.path);
      setHits((h) => (after ? [...h, ...page.hits] : page.hits));
      setCursor(page.next_cursor);
      setAsked(query);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "search failed");
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    fetchPage(q, "");
  };
  const roomName = (id: string) => {
    const r = rooms.find((room) => room.id === id);
    if (!r) return "a room you left";
    return listTitle(r);
  };
  return (
    <section aria-label="Search messages" className="flex min-h-0 flex-1 flex-col gap-3 p-4">
      <h2 tabIndex={-1} className="text-lg font-semibold outline-none">Search messages</h2>
      <form role="search" onSubmit={submit} className="flex gap-2">
        <label htmlFor="search-q" className="sr-only">Search messages</label>
        <input id="search-q" data-autofocus type="search" value={q} onChange={(e) => setQ(e.target.value)} maxLength={MAX_QUERY_CHARS}
          placeholder='Words, "a phrase", -without' className="min-w-0 flex-1 rounded border border-gray-300 bg-transparent px-2 py-1 dark:border-gray-700" />
        <button type="submit" disabled={busy} className="rounded bg-gray-200 px-3 dark:bg-gray-800">Search</button>
      </form>
      {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
      {asked && !error && <p role="status" className="text-sm text-gray-500">{hits.length === 0 ? `Nothing found for “${asked}”.` : `Results for “${asked}”, newest first`}</p>}
      <ul aria-label="Search results" className="min-h-0 flex-1 space-y-2 overflow-y-auto">
        {hits.map((h) => (
          <li key={h.message_id}>
            <button data-search-hit={h.message_id} onClick={() => onOpen(h.room_id)}
              className="w-full rounded-lg border border-gray-200 p-2 text-left hover:bg-gray-50 dark:border-gray-800 dark:hover:bg-gray-900">
              <span className="block text-xs text-gray-500">
                {roomName(h.room_id)} · {h.username} · <time dateTime={h.created_at}>{new Date(h.created_at).toLocaleString()}</time>
                {h.edited_at && " · edited"}
              </span>
              <span className="block break-words">
                {h.excerpt.map((f, i) => (f.match ? <mark key={i} className="rounded bg-yellow-200 px-0.5 dark:bg-yellow-700 dark:text-white">{f.text}</mark> : <span key={i}>{f.text}</span>))}
              </span>
            </button>
          </li>
        ))}
      </ul>
      {cursor && <button onClick={() => fetchPage(asked, cursor)} disabled={busy} className="self-start rounded bg-gray-200 px-3 py-1 text-sm dark:bg-gray-800">More results</button>}
    </section>
  );
}
