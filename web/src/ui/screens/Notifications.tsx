import { useEffect, useState } from "react";
import { api } from "../session";
import { DevicePush } from "../components/DevicePush";
import type { Notification as Notice } from "../../lib/contract.gen";

export function Notifications({ onOpen }: { onOpen: (roomId: string) => void }) {
  const [items, setItems] = useState<Notice[]>([]);
  useEffect(() => { api.call<{ notifications: Notice[] }>("GET", "/api/v1/notifications").then((r) => setItems(r.notifications)); }, []);
  const open = async (n: Notice) => {
    await api.call("POST", "/api/v1/notifications/read", { ids: [n.id] });
    if (n.room_id) onOpen(n.room_id);
  };
  return (
    <section aria-label="Notifications" className="p-4">
      <h2 tabIndex={-1} className="mb-3 text-lg font-semibold outline-none">Notifications</h2>
      <DevicePush />
      <ul className="space-y-2">
        {items.map((n) => (
          <li key={n.id}>
            <button onClick={() => open(n)} className={"w-full rounded-lg border p-2 text-left dark:border-gray-800 " + (n.read ? "opacity-60" : "")}>
              <span className="text-xs uppercase text-gray-500">{n.kind}</span> {n.from_username && <strong>{n.from_username}: </strong>}{n.text}
            </button>
          </li>
        ))}
        {items.length === 0 && <li className="text-gray-500">Nothing yet.</li>}
      </ul>
    </section>
  );
}
