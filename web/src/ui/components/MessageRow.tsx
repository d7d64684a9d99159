import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import type { Message, ParleyClient } from "../../lib/client";
import { MaxTextChars } from "../../lib/contract.gen";
import { ConfirmDialog } from "./ConfirmDialog";
import { avatarColour, initials } from "../../lib/timeline";
import { mentions, parseMarkdown } from "../../lib/markdown";
import { Markdown } from "./Markdown";
import { ReactionBar, ReactionPicker } from "./Reactions";
import { replySummary } from "../../lib/threads";
import { Attachments } from "./Attachments";

/** One message. The first of an author's run shows an avatar, the name and the time; the rest only the text. */
export function MessageRow({ m, mine, myId, myName, names, startsGroup, client, hiddenReason, onThread, newReplies }: {
  m: Message; mine: boolean; myId: string; myName: string; startsGroup: boolean; client: ParleyClient;
  /** Members' names by user id, for who reacted. */
  names: Record<string, string>;
  /** Why moderation hid the message: known to its author only. */
  hiddenReason?: string;
  /** Opens the message's thread (a top-level message in the room); absent in a thread itself. */
  onThread?: (m: Message) => void;
  /** The thread has replies this client has not shown yet. */
  newReplies?: boolean;
}) {
  const [editing, setEditing] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const rowRef = useRef<HTMLLIElement>(null);
  const editRef = useRef<HTMLButtonElement>(null);
  const deleteRef = useRef<HTMLButtonElement>(null);
  const editBox = useRef<HTMLTextAreaElement>(null);
  const isEditing = editing !== null;
  // Editing starts with the cursor after the text, as it would in the composer.
  useEffect(() => {
    const box = editBox.current;
    if (!box) return;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }, [isEditing]);
  const visible = !m.pending && !m.deleted && !m.hidden;
  const changeable = mine && visible;
  const blocks = useMemo(() => parseMarkdown(m.text, myName), [m.text, myName]);
  const mentionsMe = !mine && mentions(blocks, myName);

  // Focus goes back to where the person was: the Edit button after editing.
  const stopEditing = () => {
    setEditing(null);
    requestAnimationFrame(() => editRef.current?.focus());
  };
  const save = (e?: FormEvent) => {
    e?.preventDefault();
    const text = editing?.trim() ?? "";
    if (text && text !== m.text) client.write({ type: "edit", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq, text });
    stopEditing();
  };
  const remove = () => client.write({ type: "delete", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq });

  const time = <time className="text-xs text-gray-500" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>;
  const status = m.pending && (m.failed
    ? <span role="alert" className="text-xs text-red-600">not sent: {m.failed}</span>
    : <span className="text-xs text-gray-500">sending…</span>);
  // They float over the row's top right corner, shown on hover or keyboard
  // focus, and take no room while hidden (in a narrow thread pane they
  // would otherwise wrap onto a blank line of their own); on touch screens
  // they are always shown, beside the name or on the line below.
  const actions = visible && editing === null && (
    <span className="absolute top-0 right-2 flex shrink-0 gap-1 rounded bg-white text-xs opacity-0 shadow-sm dark:bg-gray-900 pointer-coarse:static pointer-coarse:ml-auto pointer-coarse:bg-transparent pointer-coarse:shadow-none group-focus-within:opacity-100 group-hover:opacity-100 pointer-coarse:opacity-100">
      <ReactionPicker m={m} client={client} />
      {onThread && !m.thread_id && (
        <button type="button" onClick={() => onThread(m)} data-testid="reply-in-thread" aria-label={`Reply in thread: ${m.text.slice(0, 40)}`}
          className="rounded px-2 text-gray-600 hover:underline pointer-coarse:py-1.5 dark:text-gray-400">Reply</button>
      )}
      {changeable && <>
        <button ref={editRef} type="button" onClick={() => setEditing(m.text)} aria-label={`Edit message: ${m.text.slice(0, 40)}`}
          className="rounded px-2 text-gray-600 hover:underline pointer-coarse:py-1.5 dark:text-gray-400">Edit</button>
        <button ref={deleteRef} type="button" onClick={() => setConfirming(true)} aria-label={`Delete message: ${m.text.slice(0, 40)}`}
          className="rounded px-2 text-gray-600 hover:underline pointer-coarse:py-1.5 dark:text-gray-400">Delete</button>
      </>}
    </span>
  );
  return (
    <li ref={rowRef} tabIndex={-1} data-testid="message" data-seq={m.seq} data-mentions-me={mentionsMe || undefined}
      className={"group relative flow-root rounded py-0.5 pr-2 pl-12 hover:bg-gray-50 dark:hover:bg-gray-900 " + (startsGroup ? "mt-2 " : "") +
        (mentionsMe ? "border-l-4 border-amber-400 bg-amber-50 dark:bg-amber-950/40" : "")}>
      {startsGroup ? (
        <>
          <span aria-hidden="true" data-avatar className={"absolute left-2 top-1.5 flex h-8 w-8 items-center justify-center rounded-full text-xs font-semibold text-white " + avatarColour(m.user_id)}>{initials(m.username)}</span>
          <div className="flex flex-wrap items-baseline gap-x-2">
            <span className="text-sm font-semibold">{m.username}</span>
            {time}
            {status}
            {actions}
          </div>
        </>
      ) : (
        <>
          <span className="sr-only">{m.username} </span>
          <span className="float-right ml-2 flex items-baseline gap-x-2">
            <span className="opacity-0 group-focus-within:opacity-100 group-hover:opacity-100">{time}</span>
            {status}
            {actions}
          </span>
        </>
      )}
      {editing !== null ? (
        <form onSubmit={save} className="mt-1 space-y-1">
          <label htmlFor={"edit-" + m.id} className="sr-only">Edit message</label>
          <textarea ref={editBox} id={"edit-" + m.id} value={editing} maxLength={MaxTextChars} rows={Math.min(6, editing.split("\n").length)}
            onChange={(e) => setEditing(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") { e.preventDefault(); stopEditing(); }
              if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); save(); }
            }}
            className="block w-full resize-none rounded-lg border border-gray-300 bg-transparent px-3 py-2 dark:border-gray-700" />
          <div className="flex gap-2 text-sm">
            <button type="submit" className="rounded bg-indigo-600 px-3 py-1 text-white">Save</button>
            <button type="button" onClick={stopEditing} className="rounded bg-gray-200 px-3 py-1 dark:bg-gray-800">Cancel</button>
            <span className="self-center text-xs text-gray-500">Enter saves, Escape cancels</span>
          </div>
        </form>
      ) : (
        m.hidden || m.deleted ? (
          <p className="whitespace-pre-wrap break-words">
            {m.hidden && mine && hiddenReason
              ? <em data-testid="hidden-reason" className="text-gray-600 dark:text-gray-400">Hidden by moderation: {hiddenReason}. Only you see why.</em>
              : <em className="text-gray-500">{m.hidden ? "hidden by moderation" : "message deleted"}</em>}
          </p>
        ) : <Markdown blocks={blocks} tail={m.edited_at && <span className="ml-1 text-xs text-gray-500">(edited)</span>} />
      )}
      {!m.hidden && !m.deleted && m.attachments && m.attachments.length > 0 &&
        <Attachments roomId={m.room_id} files={m.attachments} pending={m.pending} />}
      {visible && editing === null && <ReactionBar m={m} myId={myId} names={names} client={client} />}
      {onThread && m.thread && m.thread.reply_count > 0 && (
        <button type="button" onClick={() => onThread(m)} data-testid="thread-summary"
          className="mt-1 flex items-center gap-2 rounded text-xs font-semibold text-indigo-700 hover:underline dark:text-indigo-300">
          {replySummary(m.thread)}
          {newReplies && <span data-testid="new-replies" className="rounded-full bg-indigo-600 px-1.5 text-[10px] text-white">new</span>}
        </button>
      )}
      {confirming && (
        <ConfirmDialog title="Delete this message?" body="Everyone in the room will see “message deleted” instead." confirm="Delete"
          onConfirm={() => { remove(); requestAnimationFrame(() => rowRef.current?.focus()); }}
          onClose={() => { setConfirming(false); if (document.activeElement === document.body) deleteRef.current?.focus(); }} />
      )}
    </li>
  );
}
