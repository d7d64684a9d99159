import { useEffect, useRef, useState, type FormEvent } from "react";
import type { Message, ParleyClient } from "../../lib/client";
import type { User } from "../../lib/api";
import { MaxTextChars } from "../../lib/contract.gen";
import { replyCount } from "../../lib/threads";
import { MessageRow } from "./MessageRow";

/**
 * A thread beside its room (its own screen on a phone): the root, its
 * replies with their own history, and a composer that replies in the
 * thread. Showing the thread records its last reply as read, on the server
 * (ParleyClient.readThread), so its marker goes on every tab and device.
 */
export function ThreadPane({ root, client, me, names, onClose }: {
  root: Message; client: ParleyClient; me: User; names: Record<string, string>; onClose: () => void;
}) {
  const log = client.thread(root.id);
  const [, setVersion] = useState(0);
  const [text, setText] = useState("");
  const heading = useRef<HTMLHeadingElement>(null);
  const listRef = useRef<HTMLOListElement>(null);

  useEffect(() => {
    const offs = [
      client.on("thread", (id) => { if (id === root.id) setVersion((v) => v + 1); }),
      client.on("room", (id) => { if (id === root.room_id) setVersion((v) => v + 1); }), // the root's summary
      client.on("ready", () => client.loadThread(root.room_id, root.id)),
    ];
    if (!log.atStart) client.loadThread(root.room_id, root.id);
    heading.current?.focus();
    return () => offs.forEach((off) => off());
  }, [client, root.id, root.room_id]);

  const replies = log.messages;
  const lastSeq = Math.max(root.thread?.last_reply_seq ?? 0, replies.findLast((m) => !m.pending)?.seq ?? 0);
  useEffect(() => {
    client.readThread(root, lastSeq);
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [root.id, lastSeq, replies.length]);

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (!text.trim()) return;
    client.reply(root, text, { user_id: me.id, username: me.username });
    setText("");
  };

  return (
    <aside aria-labelledby="thread-title" data-testid="thread"
      className="flex h-full min-h-0 flex-col border-gray-200 md:w-96 md:shrink-0 md:border-l max-md:w-full dark:border-gray-800">
      <header className="flex items-center gap-2 border-b border-gray-200 p-3 max-md:p-2 dark:border-gray-800">
        <button type="button" onClick={onClose} className="rounded px-2 py-1 text-sm text-indigo-700 hover:bg-gray-100 md:hidden dark:text-indigo-300 dark:hover:bg-gray-800">
          <span aria-hidden="true">← </span>Back
        </button>
        <h2 id="thread-title" ref={heading} tabIndex={-1} className="min-w-0 flex-1 truncate font-semibold outline-none">Thread</h2>
        <button type="button" onClick={onClose} aria-label="Close thread" className="rounded px-2 py-1 text-sm text-gray-600 hover:bg-gray-100 max-md:hidden dark:text-gray-400 dark:hover:bg-gray-800">
          <span aria-hidden="true">✕</span>
        </button>
      </header>
      <ol ref={listRef} tabIndex={0} aria-label="Replies" className="min-h-0 flex-1 overflow-y-auto p-3">
        <MessageRow m={root} mine={root.user_id === me.id} myId={me.id} myName={me.username} names={names} startsGroup client={client} />
        <li className="my-2 flex items-center gap-2 text-xs text-gray-600 after:h-px after:flex-1 after:bg-gray-200 dark:text-gray-400 dark:after:bg-gray-800">
          {root.thread ? replyCount(root.thread) : "No replies yet"}
        </li>
        {!log.atStart && replies.length > 0 && (
          <li className="py-1 text-center text-xs">
            <button type="button" onClick={() => client.loadThread(root.room_id, root.id)} disabled={!!log.loadingOlder} className="text-gray-600 hover:underline dark:text-gray-400">
              {log.loadingOlder ? "Loading older replies…" : "Load older replies"}
            </button>
          </li>
        )}
        {replies.map((m, i) => (
          <MessageRow key={m.id} m={m} mine={m.user_id === me.id} myId={me.id} myName={me.username} names={names} client={client}
            startsGroup={i === 0 || replies[i - 1].user_id !== m.user_id} hiddenReason={log.hiddenReasons.get(m.id)} />
        ))}
      </ol>
      <form onSubmit={send} className="flex gap-2 border-t border-gray-200 p-3 dark:border-gray-800">
        <label htmlFor="thread-composer" className="sr-only">Reply in thread</label>
        <textarea id="thread-composer" value={text} rows={1} maxLength={MaxTextChars} onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } }}
          placeholder="Reply in thread" className="min-w-0 flex-1 resize-none rounded-lg border border-gray-300 bg-transparent px-3 py-2 dark:border-gray-700" />
        <button type="submit" className="rounded-lg bg-indigo-600 px-4 text-white hover:bg-indigo-500">Reply</button>
      </form>
    </aside>
  );
}
