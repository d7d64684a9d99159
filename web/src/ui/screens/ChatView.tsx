import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import type { Room, User } from "../../lib/api";
import type { ParleyClient } from "../../lib/client";
import { MaxTextChars } from "../../lib/contract.gen";
import { inviteByName } from "../../lib/invite";
import { block, listBlocks, roomTitle, unblock } from "../../lib/dms";
import { timeline, type Row } from "../../lib/timeline";
import { api } from "../session";
import { BackButton } from "../components/BackButton";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { MessageList } from "../components/MessageList";
import { MessageRow } from "../components/MessageRow";
import { ClipIcon } from "../components/Attachments";
import { ThreadPane } from "../components/ThreadPane";
import { hasNewReplies, topLevel } from "../../lib/threads";
import type { Attachment } from "../../lib/contract.gen";
import { browserPut, checkFile, MaxAttachments, mb, uploadFile } from "../../lib/files";

/** A file chosen for the next message: uploading, uploaded (attachment) or refused (error). */
interface Chosen { key: string; name: string; size: number; progress: number; attachment?: Attachment; error?: string }

// The chat keeps every message it loaded and renders only those on screen
// (MessageList); scrolling up loads older pages until the room's first
// message, whose row then says so.
type ListRow = Row | { kind: "top"; key: "top" };

/** Heights to assume for rows not yet measured. */
const estimate = (r: ListRow) => (r.kind === "message" ? (r.startsGroup ? 56 : 28) : r.kind === "day" ? 36 : r.kind === "new" ? 24 : 40);

export function ChatView({ room, roomId, client, me, onChanged, onBack, thread }: {
  room?: Room; roomId: string; client: ParleyClient; me: User; onChanged: () => void; onBack: () => void;
  /** A thread to open with the room (from a notification): it shows once its root is loaded. */
  thread?: string;
}) {
  const log = client.room(roomId);
  const [text, setText] = useState("");
  const [typing, setTyping] = useState<Record<string, number>>({});
  const [invite, setInvite] = useState("");
  const [inviteResult, setInviteResult] = useState<{ ok: boolean; text: string } | null>(null);
  const [version, setVersion] = useState(0);
  const [receipts, setReceipts] = useState<Record<string, number>>({});
  const [names, setNames] = useState<Record<string, string>>({});
  const [reactionError, setReactionError] = useState("");
  const [chosen, setChosen] = useState<Chosen[]>([]);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const keySeq = useRef(0);
  const update = (key: string, change: Partial<Chosen>) => setChosen((cs) => cs.map((c) => (c.key === key ? { ...c, ...change } : c)));
  // Each file goes to the store as soon as it is chosen (picker, drop or
  // paste), so the message goes the moment Send is pressed.
  const addFiles = (files: FileList | File[] | null) => {
    const list = Array.from(files ?? []);
    if (!list.length) return;
    const room = MaxAttachments - chosen.filter((c) => !c.error).length;
    list.forEach((file, i) => {
      const key = `f${++keySeq.current}`;
      const tooMany = i >= room ? `a message carries at most ${MaxAttachments} files` : "";
      const error = tooMany || checkFile(file);
      setChosen((cs) => [...cs, { key, name: file.name || "pasted image", size: file.size, progress: 0, error: error || undefined }]);
      if (error) return;
      uploadFile({ call: api.call.bind(api), put: browserPut }, roomId, file, (p) => update(key, { progress: p }))
        .then((attachment) => update(key, { attachment, progress: 1 }))
        .catch((err) => update(key, { error: err instanceof Error ? err.message : "the upload failed" }));
    });
  };
  const uploading = chosen.some((c) => !c.attachment && !c.error);
  const ready = chosen.flatMap((c) => (c.attachment ? [c.attachment] : []));
  const listRef = useRef<HTMLOListElement>(null);
  const lastTyping = useRef(0);
  const stick = useRef(true);
  // Messages that arrive while the reader is scrolled up get a "New
  // messages" line above the first of them and a button down to the latest.
  const [atBottom, setAtBottom] = useState(true);
  const [newFromSeq, setNewFromSeq] = useState<number>();
  const seenSeq = useRef(0);
  // The list renders only what is on screen, so it cannot be a live
  // region (scrolling would read rows out); a new message from someone
  // else is read out from here instead.
  const [heard, setHeard] = useState("");
  const heardSeq = useRef(0);
  const messages = log.messages;
  // The open thread, by its root's id: beside the room, or on a phone instead of it.
  const [threadId, setThreadId] = useState<string | undefined>(thread);
  const threadRoot = threadId ? log.get(threadId) : undefined;
  const threadOpener = useRef<HTMLElement | null>(null);
  const openThread = (m: { id: string }) => {
    threadOpener.current = document.activeElement as HTMLElement | null;
    setThreadId(m.id);
  };
  const closeThread = () => {
    setThreadId(undefined);
    requestAnimationFrame(() => threadOpener.current?.isConnected && threadOpener.current.focus());
  };

  useEffect(() => {
    const known = new Set<string>();
    const loadNames = () => api.call<{ members: { user: User }[] }>("GET", `/api/v1/rooms/${roomId}/members`).then((r) => {
      r.members.forEach((m) => known.add(m.user.id));
      setNames(Object.fromEntries(r.members.map((m) => [m.user.id, m.user.display_name || m.user.username])));
    }).catch(() => {});
    loadNames();
    const offs = [
      client.on("room", (id) => { if (id === roomId) setVersion((v) => v + 1); }),
      client.on("typing", (f) => {
        if (f.room_id === roomId && f.user_id !== me.id) setTyping((t) => ({ ...t, [f.username]: f.state === "start" ? Date.now() : 0 }));
      }),
      client.on("receipt", (f) => {
        if (f.room_id !== roomId) return;
        if (!known.has(f.user_id)) loadNames(); // someone who joined since
        setReceipts((r) => ({ ...r, [f.user_id]: Math.max(r[f.user_id] ?? 0, f.seq) }));
      }),
      client.on("reacted", (f) => {
        if (f.room_id === roomId && !known.has(f.user_id)) loadNames(); // someone who joined since
      }),
      client.on("reactionFailed", (p) => {
        if (p.roomId === roomId) setReactionError(`Could not react with ${p.emoji}: ${p.message ?? p.code}`);
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
    if (last && heardSeq.current && last.seq > heardSeq.current && last.user_id !== me.id) {
      setHeard(`${last.username}: ${last.hidden ? "hidden by moderation" : last.text.slice(0, 300)}`);
    }
    if (last) heardSeq.current = Math.max(heardSeq.current, last.seq);
    if (stick.current) {
      if (last) seenSeq.current = Math.max(seenSeq.current, last.seq); // the list keeps to the bottom
    } else if (last && last.seq > seenSeq.current && last.user_id !== me.id) {
      setNewFromSeq((s) => s ?? messages.find((m) => !m.pending && m.seq > seenSeq.current)?.seq);
    }
  }, [messages.length, client, roomId, messages, me.id]);

  const onScroll = (el: HTMLOListElement) => {
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (stick.current !== atBottom) setAtBottom(stick.current);
    if (stick.current) seenSeq.current = Math.max(seenSeq.current, messages.findLast((m) => !m.pending)?.seq ?? 0);
  };

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (uploading || (!text.trim() && ready.length === 0)) return;
    client.send(roomId, text.trim() ? text : "", { user_id: me.id, username: me.username }, ready);
    setChosen([]);
    stick.current = true; // your own message shows, wherever you had scrolled
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
  const older = () => client.loadOlder(roomId);
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
  const title = room ? roomTitle(room) : "";
  // A 1:1 room offers to block (or unblock) its other person.
  const peer = room?.kind === "direct" ? room.peer : undefined;
  const [blocked, setBlocked] = useState<boolean>();
  const [asking, setAsking] = useState(false);
  const [blockNote, setBlockNote] = useState("");
  useEffect(() => {
    if (!peer) return;
    listBlocks(api).then((b) => setBlocked(b.some((x) => x.user.id === peer.id))).catch(() => {});
  }, [peer?.id]);
  const toggleBlock = async () => {
    if (!peer) return;
    try {
      if (blocked) await unblock(api, peer.id);
      else await block(api, peer.id);
      setBlockNote(blocked ? `You unblocked @${peer.username}.` : `You blocked @${peer.username}: they can no longer message you here, and you are not notified of their mentions.`);
      setBlocked(!blocked);
    } catch (err) {
      setBlockNote(err instanceof Error ? err.message : "could not change the block");
    }
  };
  const jumpToLatest = () => {
    const el = listRef.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    stick.current = true;
    setAtBottom(true);
    el.focus(); // the button goes away; the list keeps the keyboard
  };
  const unseen = newFromSeq === undefined ? 0 : messages.filter((m) => !m.pending && m.seq >= newFromSeq).length;
  const rows = useMemo<ListRow[]>(() => [{ kind: "top", key: "top" }, ...timeline(topLevel(messages), { now: new Date(), newFromSeq })],
    // The log changes in place: version counts its changes.
    [messages, version, newFromSeq]);
  const typers = Object.entries(typing).filter(([, at]) => Date.now() - at < 6000).map(([n]) => n);

  return (
    <div className="flex h-full min-h-0">
    <section aria-label={room ? title : "room"} data-dragging={dragging || undefined}
      onDragOver={(e) => { if (e.dataTransfer.types.includes("Files")) { e.preventDefault(); setDragging(true); } }}
      onDragLeave={(e) => { if (e.currentTarget === e.target) setDragging(false); }}
      onDrop={(e) => { if (e.dataTransfer.files.length) { e.preventDefault(); setDragging(false); addFiles(e.dataTransfer.files); } }}
      className={"flex h-full min-h-0 min-w-0 flex-1 flex-col " + (threadRoot ? "max-md:hidden " : "") + (dragging ? "outline-2 outline-dashed outline-indigo-500 -outline-offset-4" : "")}>
      <header className="flex flex-wrap items-center gap-2 border-b border-gray-200 p-3 max-md:p-2 dark:border-gray-800">
        <BackButton onBack={onBack} />
        <h2 tabIndex={-1} className="min-w-0 flex-1 truncate font-semibold outline-none">{title}</h2>
        {room && room.kind !== "direct" && room.kind !== "group" && (
          <form onSubmit={doInvite} className="flex min-w-0 gap-1 max-md:w-full">
            <label htmlFor="invite" className="sr-only">Invite by username</label>
            <input id="invite" value={invite} onChange={(e) => { setInvite(e.target.value); setInviteResult(null); }} placeholder="Invite username"
              aria-invalid={inviteResult?.ok === false} aria-describedby={inviteResult ? "invite-result" : undefined}
              className="min-w-0 flex-1 rounded border border-gray-300 bg-transparent px-2 py-1 text-sm dark:border-gray-700" />
            <button type="submit" className="rounded bg-gray-200 px-2 text-sm dark:bg-gray-800">Invite</button>
            <button type="button" onClick={leave} className="rounded px-2 text-sm text-gray-600 hover:underline dark:text-gray-400">Leave</button>
          </form>
        )}
        {room?.kind === "group" && (
          <button type="button" onClick={leave} className="rounded px-2 text-sm text-gray-600 hover:underline dark:text-gray-400">Leave</button>
        )}
        {peer && blocked !== undefined && (
          <button type="button" onClick={() => (blocked ? toggleBlock() : setAsking(true))} data-testid="block"
            className="rounded px-2 text-sm text-red-700 hover:underline dark:text-red-400">{blocked ? "Unblock" : "Block"}</button>
        )}
        {asking && peer && <ConfirmDialog title={`Block @${peer.username}?`}
          body="They will no longer be able to message you here, and you will not be notified of their mentions. Their messages in group rooms still show. You can unblock them later."
          confirm="Block" onConfirm={toggleBlock} onClose={() => setAsking(false)} />}
        {blockNote && <p role="status" className="w-full text-sm text-gray-700 dark:text-gray-300">{blockNote}</p>}
        {inviteResult && <p id="invite-result" role={inviteResult.ok ? "status" : "alert"}
          className={"w-full text-sm " + (inviteResult.ok ? "text-green-700 dark:text-green-400" : "text-red-600")}>{inviteResult.text}</p>}
      </header>
      <div className="relative flex min-h-0 flex-1 flex-col">
        <MessageList rows={rows} estimate={estimate} listRef={listRef} stick={stick} onScrolled={onScroll} onNearTop={older}
          render={(r) => r.kind === "message"
            ? <MessageRow key={r.key} m={r.m} mine={r.m.user_id === me.id} myId={me.id} myName={me.username} names={names} startsGroup={r.startsGroup} client={client}
              hiddenReason={log.hiddenReasons.get(r.m.id)} onThread={openThread} newReplies={hasNewReplies(r.m, me.id, client.threadReads.get(r.m.id))} />
            : r.kind === "day"
              ? <li key={r.key} data-testid="day" className="my-2 flex items-center gap-2 text-xs font-semibold text-gray-600 before:h-px before:flex-1 before:bg-gray-200 after:h-px after:flex-1 after:bg-gray-200 dark:text-gray-400 dark:before:bg-gray-800 dark:after:bg-gray-800">{r.label}</li>
              : r.kind === "new"
                ? <li key={r.key} data-testid="new-messages" className="my-1 flex items-center gap-2 text-xs font-semibold text-red-700 after:h-px after:flex-1 after:bg-red-300 dark:text-red-400">New messages</li>
                : <li key={r.key} className="py-2 text-center text-xs text-gray-600 dark:text-gray-400">
                  {log.atStart
                    ? <span data-testid="room-start">This is the start of {title}.</span>
                    : <button type="button" onClick={older} disabled={!!log.loadingOlder} className="hover:underline">
                      {log.loadingOlder ? "Loading older messages…" : "Load older messages"}
                    </button>}
                </li>} />
        {!atBottom && (
          <button type="button" onClick={jumpToLatest}
            className="absolute bottom-2 left-1/2 -translate-x-1/2 rounded-full bg-indigo-600 px-3 py-1 text-sm text-white shadow-lg hover:bg-indigo-500">
            <span aria-hidden="true">↓ </span>{unseen > 0 ? `${unseen} new message${unseen > 1 ? "s" : ""}` : "Jump to latest"}
          </button>
        )}
      </div>
      {reactionError && <p role="alert" className="px-3 text-xs text-red-600">{reactionError}
        <button type="button" onClick={() => setReactionError("")} className="ml-2 underline">Dismiss</button></p>}
      {seenBy.length > 0 && <p className="px-3 text-xs text-gray-500">Seen by {seenBy.join(", ")}</p>}
      <p className="sr-only" aria-live="polite">{heard}</p>
      <p className="h-5 px-3 text-xs text-gray-500" aria-live="polite">{typers.length > 0 && `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…`}</p>
      {chosen.length > 0 && (
        <ul aria-label="Files to send" className="flex flex-wrap gap-2 border-t border-gray-200 px-3 pt-2 dark:border-gray-800">
          {chosen.map((c) => (
            <li key={c.key} data-testid="chosen-file" data-state={c.error ? "error" : c.attachment ? "ready" : "uploading"}
              className={"flex max-w-full items-center gap-2 rounded-lg border px-2 py-1 text-sm " + (c.error ? "border-red-400" : "border-gray-300 dark:border-gray-700")}>
              <span className="truncate">{c.name}</span>
              <span className="shrink-0 text-xs text-gray-600 dark:text-gray-400">{mb(c.size)}</span>
              {!c.error && !c.attachment && (
                <progress value={c.progress} max={1} aria-label={`Uploading ${c.name}`} className="h-2 w-16" />
              )}
              {c.error && <span role="alert" className="text-xs text-red-700 dark:text-red-400">{c.error}</span>}
              <button type="button" onClick={() => setChosen((cs) => cs.filter((x) => x.key !== c.key))} aria-label={`Remove ${c.name}`}
                className="rounded px-1 text-gray-600 hover:bg-gray-100 dark:text-gray-400 dark:hover:bg-gray-800">✕</button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={send} className="flex gap-2 border-t border-gray-200 p-3 max-md:p-2 dark:border-gray-800">
        <input ref={fileInput} id="attach" type="file" multiple hidden
          onChange={(e) => { addFiles(e.target.files); e.target.value = ""; }} />
        <button type="button" onClick={() => fileInput.current?.click()} aria-label="Attach files" data-testid="attach"
          className="shrink-0 rounded-lg border border-gray-300 px-3 text-gray-700 hover:bg-gray-100 dark:border-gray-700 dark:text-gray-300 dark:hover:bg-gray-800">
          <ClipIcon />
        </button>
        <label htmlFor="composer" className="sr-only">{"Message " + title}</label>
        <textarea id="composer" data-autofocus value={text} rows={1} maxLength={MaxTextChars} onChange={(e) => onType(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } }}
          onPaste={(e) => { if (e.clipboardData.files.length) { e.preventDefault(); addFiles(e.clipboardData.files); } }}
          placeholder="Write a message" className="min-w-0 flex-1 resize-none rounded-lg border border-gray-300 bg-transparent px-3 py-2 dark:border-gray-700" />
        <button type="submit" disabled={uploading} className="rounded-lg bg-indigo-600 px-4 text-white hover:bg-indigo-500 disabled:opacity-60">
          {uploading ? "Uploading…" : "Send"}
        </button>
      </form>
    </section>
    {threadRoot && <ThreadPane key={threadRoot.id} root={threadRoot} client={client} me={me} names={names} onClose={closeThread} />}
    </div>
  );
}
