import { useEffect, useState } from "react";
import { api } from "../session";

interface Flag { message_id: string; room_id: string; text: string; labels: string[]; scores: Record<string, number>; status: string }

export function ModerationQueue() {
  const [flags, setFlags] = useState<Flag[]>([]);
  const load = () => api.call<{ flags: Flag[] }>("GET", "/api/v1/moderation/flags?status=pending").then((r) => setFlags(r.flags));
  useEffect(() => { load(); }, []);
  const decide = async (f: Flag, decision: "restore" | "confirm") => {
    await api.call("POST", `/api/v1/moderation/flags/${f.message_id}/decision`, { decision });
    load();
  };
  return (
    <section aria-label="Review queue" className="p-4">
      <h2 tabIndex={-1} className="mb-3 text-lg font-semibold outline-none">Review queue</h2>
      <ul className="space-y-2">
        {flags.map((f) => (
          <li key={f.message_id} className="rounded-lg border p-3 dark:border-gray-800">
            <p className="whitespace-pre-wrap break-words">{f.text}</p>
            <p className="text-xs text-gray-500">{f.labels.join(", ")} — {Object.entries(f.scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}</p>
            <div className="mt-2 space-x-2">
              <button onClick={() => decide(f, "restore")} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Restore</button>
              <button onClick={() => decide(f, "confirm")} className="rounded bg-red-600 px-2 py-1 text-sm text-white">Keep hidden</button>
            </div>
          </li>
        ))}
        {flags.length === 0 && <li className="text-gray-500">No flagged messages.</li>}
      </ul>
    </section>
  );
}
