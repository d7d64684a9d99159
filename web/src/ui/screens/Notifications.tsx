import { useEffect, useState } from "react";
import { api } from "../session";
import { DevicePush } from "../components/DevicePush";
import type { Notification as Notice } from "../../lib/contract.gen";
export type { Notice };

/** The list behind the bell. Opening it marks everything seen (the bell
 * clears); what was new stays marked as such until the list is left. */
export function Notifications({ onOpen, onSeen }: { onOpen: (roomId: string, threadId?: string) => void; onSeen: () => void }) {
  const [items, setItems] = useState<Notice[] | null>(null);
  useEffect(() => {
    let live = true;
    api.call<{ notifications: Notice[] }>("GET", "/api/v1/notifications").then(async (r) => {
      if (!live) return;
      setItems(r.notifications);
      if (r.notifications.some((n) => !n.read)) {
        await api.call("POST", "/api/v1/notifications/read", { all: true });
        onSeen();
      }
    });
    return () => { live = false; };
  }, []);
  return (
    <section aria-label="Notifications" className="p-4">
      <h2 tabIndex={-1} className="mb-3 text-lg font-semibold outline-none">Notifications</h2>
      <DevicePush />
      <ul className="space-y-2">
        {items?.map((n) => (
          <li key={n.id}>
            <button onClick={() => n.room_id && onOpen(n.room_id, n.thread_id)} disabled={!n.room_id}
              className={"w-full rounded-lg border p-2 text-left dark:border-gray-800 " + (n.read ? "" : "border-indigo-400 bg-indigo-50 dark:bg-indigo-950")}>
              <span className="text-xs uppercase text-gray-600 dark:text-gray-400">{n.kind}{n.read ? "" : " · new"}</span>{" "}
              {n.from_username && <strong>{n.from_username}: </strong>}{n.text}
            </button>
          </li>
        ))}
        {items?.length === 0 && <li className="text-gray-600 dark:text-gray-400">Nothing yet.</li>}
      </ul>
    </section>
  );
}
