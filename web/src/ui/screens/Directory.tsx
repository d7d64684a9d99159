import { useEffect, useState, type FormEvent } from "react";
import { ApiError, type Room, type User } from "../../lib/api";
import { api } from "../session";

export function Directory({ onOpen }: { onOpen: (roomId: string) => void }) {
  const [q, setQ] = useState("");
  const [people, setPeople] = useState<User[]>([]);
  const [rooms, setRooms] = useState<Room[]>([]);
  const [error, setError] = useState("");
  useEffect(() => { api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms/public").then((r) => setRooms(r.rooms)); }, []);
  const search = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      const [u, r] = await Promise.all([
        api.call<{ users: User[] }>("GET", "/api/v1/users?prefix=" + encodeURIComponent(q)),
        api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms/public?prefix=" + encodeURIComponent(q)),
      ]);
      setPeople(u.users);
      setRooms(r.rooms);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "search failed");
    }
  };
  const dm = async (u: User) => {
    try {
      onOpen((await api.call<Room>("POST", "/api/v1/dms", { user_id: u.id })).id);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "could not open the conversation"); // e.g. they blocked you
    }
  };
  const join = async (r: Room) => onOpen((await api.call<Room>("POST", `/api/v1/rooms/${r.id}/join`)).id);
  return (
    <section aria-label="Find rooms and people" className="space-y-4 p-4">
      <h2 tabIndex={-1} className="text-lg font-semibold outline-none">Find rooms &amp; people</h2>
      <form onSubmit={search} className="flex gap-2">
        <label htmlFor="directory-q" className="sr-only">Search</label>
        <input id="directory-q" data-autofocus value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name starts with…" required
          className="min-w-0 flex-1 rounded border border-gray-300 bg-transparent px-2 py-1 dark:border-gray-700" />
        <button type="submit" className="rounded bg-gray-200 px-3 dark:bg-gray-800">Search</button>
      </form>
      {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
      <h3 className="font-semibold">People</h3>
      <ul className="space-y-1">
        {people.map((u) => (
          <li key={u.id} className="flex items-center justify-between">
            <span>{u.display_name} <span className="text-gray-500">@{u.username}</span></span>
            <button onClick={() => dm(u)} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Message</button>
          </li>
        ))}
      </ul>
      <h3 className="font-semibold">Public rooms</h3>
      <ul className="space-y-1">
        {rooms.map((r) => (
          <li key={r.id} className="flex items-center justify-between">
            <span># {r.name} <span className="text-gray-500">{r.member_count} members</span></span>
            <button onClick={() => join(r)} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Join</button>
          </li>
        ))}
      </ul>
    </section>
  );
}
