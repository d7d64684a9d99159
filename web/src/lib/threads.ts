// Threads (connector/PROTOCOL.md, "Threads"): replies are messages of the
// room with thread_id set; the room shows only top-level messages, each
// root with its summary, and a thread shows its replies. The server keeps
// no read position per thread: this client remembers, per thread, the last
// reply it showed, and marks a root with newer replies.

import type { Thread } from "./contract.gen";

/** The messages the room itself shows: those that are not replies. */
export function topLevel<M extends { thread_id?: string }>(messages: readonly M[]): M[] {
  return messages.filter((m) => !m.thread_id);
}

/** "1 reply" / "3 replies". */
export function replyCount(t: Thread): string {
  return t.reply_count === 1 ? "1 reply" : `${t.reply_count} replies`;
}

/** The root's summary line: "3 replies · last reply 10:42" (time of day, or the date when not today). */
export function replySummary(t: Thread, now: Date = new Date()): string {
  const at = new Date(t.last_reply_at);
  if (Number.isNaN(at.getTime())) return replyCount(t);
  const sameDay = at.toDateString() === now.toDateString();
  const when = sameDay ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : at.toLocaleDateString();
  return `${replyCount(t)} · last reply ${when}`;
}

/** The subset of Storage the read positions use (tests pass a Map-backed one). */
export interface SeenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const seenKey = (rootId: string) => "parley.thread.seen." + rootId;

/** The last reply seq of the thread this client showed (0: none). */
export function seenReply(store: SeenStore | undefined, rootId: string): number {
  return Number(store?.getItem(seenKey(rootId)) ?? 0) || 0;
}

/** Records that the thread was shown up to seq; it never moves back. */
export function markThreadSeen(store: SeenStore | undefined, rootId: string, seq: number) {
  if (!store || seq <= seenReply(store, rootId)) return;
  try {
    store.setItem(seenKey(rootId), String(seq));
  } catch {
    /* storage full or refused: the marker shows again */
  }
}

/** Whether a root has replies from others newer than what this client showed of its thread. */
export function hasNewReplies(root: { id: string; thread?: Thread }, me: string, store: SeenStore | undefined): boolean {
  const t = root.thread;
  if (!t || t.reply_count === 0 || t.last_reply_user_id === me) return false;
  return t.last_reply_seq > seenReply(store, root.id);
}
