// Threads (connector/PROTOCOL.md, "Threads"): replies are messages of the
// room with thread_id set; the room shows only top-level messages, each
// root with its summary, and a thread shows its replies. The server keeps
// the user's read position per thread (ParleyClient.threadReads); a root
// whose last reply is newer is marked.

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

/**
 * Whether a root has replies from others newer than the user read of its
 * thread (readSeq: their read position, kept by the server and shared by
 * their tabs and devices; absent when never read). Only threads the user
 * takes part in (the root's author and those who replied) are marked.
 */
export function hasNewReplies(root: { id: string; thread?: Thread }, me: string, readSeq: number | undefined): boolean {
  const t = root.thread;
  if (!t || t.reply_count === 0 || t.last_reply_user_id === me || !t.participants?.includes(me)) return false;
  return t.last_reply_seq > (readSeq ?? 0);
}
