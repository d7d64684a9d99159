import { useState, type FormEvent } from "react";
import { ApiError, type User } from "../../lib/api";
import { api } from "../session";
import { Field } from "../components/Field";

export function Profile({ me }: { me: User }) {
  const [name, setName] = useState(me.display_name);
  const [saved, setSaved] = useState("");
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.call("PATCH", "/api/v1/me", { display_name: name });
      setSaved("Saved.");
    } catch (err) {
      setSaved(err instanceof ApiError ? err.message : "could not save");
    }
  };
  return (
    <form onSubmit={save} aria-label="Profile" className="max-w-sm space-y-3 p-4">
      <h2 tabIndex={-1} className="text-lg font-semibold outline-none">Profile</h2>
      <p className="text-sm text-gray-500">@{me.username} · {me.role}</p>
      <Field label="Display name" id="display-name" value={name} onChange={setName} />
      <button type="submit" className="rounded bg-indigo-600 px-3 py-1 text-white">Save</button>
      {saved && <p role="status" className="text-sm">{saved}</p>}
    </form>
  );
}
