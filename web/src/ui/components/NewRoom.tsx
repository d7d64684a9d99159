import { useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { api } from "../session";

export function NewRoom({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [priv, setPriv] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.call("POST", "/api/v1/rooms", { name, kind: priv ? "private" : "public" });
      setName("");
      setError("");
      onCreated();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "could not create the room");
    }
  };
  return (
    <form onSubmit={submit} className="space-y-1 border-t border-gray-200 p-2 dark:border-gray-800">
      <label htmlFor="new-room" className="sr-only">New room name</label>
      <input id="new-room" value={name} onChange={(e) => setName(e.target.value)} placeholder="New room name" required
        className="w-full rounded border border-gray-300 bg-transparent px-2 py-1 text-sm dark:border-gray-700" />
      <label className="flex items-center gap-1 text-xs text-gray-500"><input type="checkbox" checked={priv} onChange={(e) => setPriv(e.target.checked)} /> private</label>
      {error && <p role="alert" className="text-xs text-red-600">{error}</p>}
      <button type="submit" className="w-full rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Create room</button>
    </form>
  );
}
