import { useEffect, useRef, useState, type FormEvent } from "react";
import type { Room, User } from "../../lib/api";
import type { ParleyClient } from "../../lib/client";
import { inviteByName } from "../../lib/invite";
import { api } from "../session";
import { BackButton } from "../components/BackButton";
import { MessageRow } from "../components/MessageRow";

// The chat keeps every message it loaded but renders at most MAX_ROWS,
// the newest first; scrolling to the top shows more, then loads history.
const PAGE = 100;
const MAX_ROWS = 1000;

export function ChatView({ room, roomId, client, me, onChanged, onBack }: { room?: Room; roomId: string; client: ParleyClient; me: User; onChanged: () => void; onBack: () => void }) {
  const log = client.room(roomId);
  const [text, setText] = useState("");
  const [typing, setTyping] = useState<Record<string, number>>({});
  const [invite, setInvite] = useState("");
  const [inviteResult, setInviteResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [shown, setShown] = useState(PAGE);
  const [receipts, setReceipts] = useState<Record<string, number>>({});
  const [names, setNames] = useState<Record<string, string>>({});
  const listRef = useRef<HTMLOListElement>(null);
  const lastTyping = useRef(0);
  const stick = useRef(true);
  const messages = log.messages;
  const visible = messages.slice(Math.max(0, messages.length - Math.min(shown, MAX_ROWS)));

  useEffect(() => {
    if (messages.length === 0) client.write({ type: "history", id: client.nextId(), room_id: roomId, limit: 50 });
    const known = new Set<string>();
    const loadNames = () => api.call<{ members: { user: User }[] }>("GET", `/api/v1/rooms/${roomId}/members`).then((r) => {
      r.members.forEach((m) => known.add(m.user.id));
      setNames(Object.fromEntries(r.members.map((m) => [m.user.id, m.user.display_name || m.user.username])));
    }).catch(() => {});
    loadNames();
    const offs = [
      client.on("typing", (f) => {
        if (f.room_id === roomId && f.user_id !== me.id) setTyping((t) => ({ ...t, [f.username]: f.state === "start" ? Date.now() : 0 }));
      }),
      client.on("receipt", (f) => {
        if (f.room_id !== roomId) return;
        if (!known.has(f.user_id)) loadNames(); // someone who joined since
        setReceipts((r) => ({ ...r, [f.user_id]: Math.max(r[f.user_id] ?? 0, f.seq) }));
      }),
      client.on("history", (f) => {
        if (f.room_id === roomId && f.receipts) setReceipts((r) => {
          const next = { ...r };
          for (const [u, seq] of Object.entries(f.receipts as Record<string, string>)) next[u] = Math.max(next[u] ?? 0, Number(seq));
          return next;
        });
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [client, roomId, me.id]);

  useEffect(() => {
    const last = messages.findLast((m) => !m.pending);
    if (last) client.write({ type: "read", room_id: roomId, seq: last.seq });
    if (stick.current) listRef.current?.lastElementChild?.scrollIntoView({ block: "end" });
  }, [messages.length, client, roomId, messages]);

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 40) {
      if (shown < messages.length && shown < MAX_ROWS) setShown((n) => n + PAGE);
      else older();
    }
  };

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (!text.trim()) return;
    client.send(roomId, text, { user_id: me.id, username: me.username });
    client.write({ type: "typing", room_id: roomId, state: "stop" });
    setText("");
  };
  const onType = (v: string) => {
    setText(v);
    if (Date.now() - lastTyping.current > 3000) {
      lastTyping.current = Date.now();
      client.write({ type: "typing", room_id: roomId, state: "start" });
    }
  };
  const older = () => {
    const first = messages.find((m) => !m.pending);
    if (first && first.seq > 1) client.write({ type: "history", id: client.nextId(), room_id: roomId, before_seq: first.seq, limit: 50 });
  };
  const leave = async () => {
    await api.call("POST", `/api/v1/rooms/${roomId}/leave`);
    onChanged();
  };
  const lastSeq = messages.findLast((m) => !m.pending)?.seq ?? 0;
  const seenBy = Object.entries(receipts).filter(([u, seq]) => u !== me.id && seq >= lastSeq && lastSeq > 0).map(([u]) => names[u] ?? "someone");
  const doInvite = async (e: FormEvent) => {
    e.preventDefault();
    try {
      setInviteResult({ ok: true, text: await inviteByName(api, roomId, invite) });
      setInvite("");
      onChanged();
    } catch (err) {
      setInviteResult({ ok: false, text: err instanceof Error ? err.message : "could not invite" });
    }
  };
  const title = room?.kind === "direct" ? "@" + room.peer?.username : "# " + (room?.name ?? "");
  const typers = Object.entries(typing).filter(([, at]) => Date.now() - at < 6000).map(([n]) => n);

  return (
    <section aria-label={room ? room.name : "room"} className="flex h-full min-h-0 flex-col">
      <header className="flex flex-wrap items-center gap-2 border-b border-gray-200 p-3 max-md:p-2 dark:border-gray-800">
        <BackButton onBack={onBack} />
        <h2 tabIndex={-1} className="min-w-0 flex-1 truncate font-semibold outline-none">{title}</h2>
        {room && room.kind !== "direct" && (
          <form onSubmit={doInvite} className="flex min-w-0 gap-1 max-md:w-full">
            <label htmlFor="invite" className="sr-only">Invite by username</label>
            <input id="invite" value={invite} onChange={(e) => { setInvite(e.target.value); setInviteResult(null); }} placeholder="Invite username"
              aria-invalid={inviteResult?.ok === false} aria-describedby={inviteResult ? "invite-result" : undefined}
              className="min-w-0 flex-1 rounded border border-gray-300 bg-transparent px-2 py-1 text-sm dark:border-gray-700" />
            <button type="submit" className="rounded bg-gray-200 px-2 text-sm dark:bg-gray-800">Invite</button>
            <button type="button" onClick={leave} className="rounded px-2 text-sm text-gray-600 hover:underline dark:text-gray-400">Leave</button>
          </form>
        )}
        {inviteResult && <p id="invite-result" role={inviteResult.ok ? "status" : "alert"}
          className={"w-full text-sm " + (inviteResult.ok ? "text-green-700 dark:text-green-400" : "text-red-600")}>{inviteResult.text}</p>}
      </header>
      <button onClick={older} className="py-1 text-xs text-gray-500 hover:underline">Load older messages</button>
      <ol ref={listRef} tabIndex={0} onScroll={onScroll} aria-live="polite" aria-label="Messages" className="flex-1 space-y-1 overflow-y-auto p-3">
        {visible.map((m) => <MessageRow key={m.id} m={m} mine={m.user_id === me.id} client={client} />)}
      </ol>
      {seenBy.length > 0 && <p className="px-3 text-xs text-gray-500">Seen by {seenBy.join(", ")}</p>}
      <p className="h-5 px-3 text-xs text-gray-500" aria-live="polite">{typers.length > 0 && `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…`}</p>
      <form onSubmit={send} className="flex gap-2 border-t border-gray-200 p-3 dark:border-gray-800">
        <label htmlFor="composer" className="sr-only">{"Message " + title}</label>
        <textarea id="composer" data-autofocus value={text} rows={1} maxLength={4000} onChange={(e) => onType(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } }}
          placeholder="Write a message" className="min-w-0 flex-1 resize-none rounded-lg border border-gray-300 bg-transparent px-3 py-2 dark:border-gray-700" />
        <button type="submit" className="rounded-lg bg-indigo-600 px-4 text-white hover:bg-indigo-500">Send</button>
      </form>
    </section>
  );
}
