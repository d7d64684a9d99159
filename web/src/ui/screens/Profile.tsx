import { useEffect, useState, type FormEvent } from "react";
import { ApiError, type User } from "../../lib/api";
import { listBlocks, unblock, type Block } from "../../lib/dms";
import { api } from "../session";
import { Field } from "../components/Field";

export function Profile({ me }: { me: User }) {
  const [name, setName] = useState(me.display_name);
  const [saved, setSaved] = useState("");
  const [blocks, setBlocks] = useState<Block[]>();
  const [blockNote, setBlockNote] = useState("");
  useEffect(() => { listBlocks(api).then(setBlocks).catch(() => setBlocks([])); }, []);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.call("PATCH", "/api/v1/me", { display_name: name });
      setSaved("Saved.");
    } catch (err) {
      setSaved(err instanceof ApiError ? err.message : "could not save");
    }
  };
  const doUnblock = async (u: User) => {
    try {
      await unblock(api, u.id);
      setBlocks((b) => b?.filter((x) => x.user.id !== u.id));
      setBlockNote(`You unblocked @${u.username}.`);
    } catch (err) {
      setBlockNote(err instanceof ApiError ? err.message : "could not unblock");
    }
  };
  return (
    <div className="max-w-sm space-y-6 p-4">
      <form onSubmit={save} aria-label="Profile" className="space-y-3">
        <h2 tabIndex={-1} className="text-lg font-semibold outline-none">Profile</h2>
        <p className="text-sm text-gray-500">@{me.username} · {me.role}</p>
        <Field label="Display name" id="display-name" value={name} onChange={setName} />
        <button type="submit" className="rounded bg-indigo-600 px-3 py-1 text-white">Save</button>
        {saved && <p role="status" className="text-sm">{saved}</p>}
      </form>
      <section aria-labelledby="blocked-title" className="space-y-2">
        <h3 id="blocked-title" className="font-semibold">Blocked people</h3>
        <p className="text-sm text-gray-600 dark:text-gray-400">They cannot message you directly, and you are not notified of their mentions. Their messages in group rooms still show.</p>
        {blocks?.length === 0 && <p className="text-sm text-gray-600 dark:text-gray-400">You have blocked no one.</p>}
        <ul className="space-y-1" data-testid="blocked-list">
          {blocks?.map((b) => (
            <li key={b.user.id} className="flex items-center justify-between">
              <span>{b.user.display_name} <span className="text-gray-600 dark:text-gray-400">@{b.user.username}</span></span>
              <button type="button" onClick={() => doUnblock(b.user)} aria-label={`Unblock @${b.user.username}`}
                className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Unblock</button>
            </li>
          ))}
        </ul>
        {blockNote && <p role="status" className="text-sm">{blockNote}</p>}
      </section>
    </div>
  );
}
