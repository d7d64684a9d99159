import type { Message, ParleyClient } from "../../lib/client";
import { Linkified } from "./Linkified";

export function MessageRow({ m, mine, client }: { m: Message; mine: boolean; client: ParleyClient }) {
  return (
    <li data-testid="message" data-seq={m.seq} className="group rounded px-2 py-1 hover:bg-gray-50 dark:hover:bg-gray-900">
      <span className="mr-2 text-sm font-semibold">{m.username}</span>
      <time className="text-xs text-gray-500" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>
      {m.pending && (m.failed
        ? <span role="alert" className="ml-2 text-xs text-red-600">not sent: {m.failed}</span>
        : <span className="ml-2 text-xs text-gray-500">sending…</span>)}
      <p className="whitespace-pre-wrap break-words">
        {m.hidden ? <em className="text-gray-500">hidden by moderation</em>
          : m.deleted ? <em className="text-gray-500">message deleted</em>
          : <Linkified text={m.text} />}
        {m.edited_at && !m.deleted && !m.hidden && <span className="ml-1 text-xs text-gray-500">(edited)</span>}
      </p>
      {mine && !m.pending && !m.deleted && !m.hidden && (
        <span className="invisible space-x-2 text-xs group-hover:visible group-focus-within:visible">
          <button onClick={() => { const t = prompt("Edit message", m.text); if (t) client.write({ type: "edit", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq, text: t }); }} className="text-gray-500 hover:underline">Edit</button>
          <button onClick={() => client.write({ type: "delete", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq })} className="text-gray-500 hover:underline">Delete</button>
        </span>
      )}
    </li>
  );
}
