// Reactions on a message (connector/PROTOCOL.md, "Reactions"): the client
// applies each reacted frame to the message it holds, as the server applies
// the event (eventsv1.ApplyReaction): adding a reaction that is there, or
// removing one that is not, changes nothing, and an emoji goes with its
// last user.

import { ReactionAdd, ReactionRemove, type Reaction } from "./contract.gen";

export type ReactionOp = typeof ReactionAdd | typeof ReactionRemove;

/** The emoji the picker offers, with what a screen reader says for each. */
export const PICKER: readonly { emoji: string; name: string }[] = [
  { emoji: "👍", name: "thumbs up" },
  { emoji: "❤️", name: "heart" },
  { emoji: "😂", name: "laughing" },
  { emoji: "🎉", name: "party" },
  { emoji: "😮", name: "surprised" },
  { emoji: "😢", name: "sad" },
];

/** Applies one reaction change to m in place; returns whether anything changed. */
export function applyReaction(m: { reactions?: Reaction[] }, emoji: string, userId: string, op: string): boolean {
  const rs = m.reactions ?? [];
  const i = rs.findIndex((r) => r.emoji === emoji);
  const has = i >= 0 && rs[i].user_ids.includes(userId);
  if (op === ReactionAdd && !has) {
    m.reactions = i < 0
      ? [...rs, { emoji, user_ids: [userId] }]
      : rs.map((r, j) => (j === i ? { emoji, user_ids: [...r.user_ids, userId] } : r));
    return true;
  }
  if (op === ReactionRemove && has) {
    const left = rs[i].user_ids.filter((u) => u !== userId);
    const next = left.length ? rs.map((r, j) => (j === i ? { emoji, user_ids: left } : r)) : rs.filter((_, j) => j !== i);
    if (next.length) m.reactions = next;
    else delete m.reactions;
    return true;
  }
  return false;
}

/** Whether userId reacted to m with emoji: clicking it again takes the reaction back. */
export function reacted(m: { reactions?: Reaction[] }, emoji: string, userId: string): boolean {
  return !!m.reactions?.some((r) => r.emoji === emoji && r.user_ids.includes(userId));
}

/** Who reacted, for a tooltip and a screen reader: "you, ada and bob". */
export function whoReacted(userIds: readonly string[], me: string, names: Record<string, string>): string {
  const who = userIds.map((u) => (u === me ? "you" : names[u] ?? "someone"));
  if (who.length <= 1) return who.join("");
  return who.slice(0, -1).join(", ") + " and " + who[who.length - 1];
}
