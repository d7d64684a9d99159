import type { Message } from "./client";

// What the message list shows between messages: a date line where the day
// changes, a "new messages" line above the first one that arrived while the
// reader was scrolled up, and whether a message starts a group (name and
// avatar shown) or continues its author's run.

export type Row =
  | { kind: "day"; key: string; label: string }
  | { kind: "new"; key: string }
  | { kind: "message"; key: string; m: Message; startsGroup: boolean };

/** A run of one author's messages ends after this long a pause. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

export function timeline(messages: readonly Message[], opts: { now: Date; newFromSeq?: number }): Row[] {
  const rows: Row[] = [];
  let prev: Message | undefined;
  // The previous message's time and day, kept rather than parsed again:
  // a long room's whole timeline is rebuilt as pages and messages arrive.
  let prevAt = 0, prevDay = "";
  let newShown = false;
  for (const m of messages) {
    const at = new Date(m.created_at);
    const day = dayKey(at);
    const dayChanged = !prev || prevDay !== day;
    if (dayChanged) rows.push({ kind: "day", key: "day-" + day, label: dayLabel(at, opts.now) });
    let marker = false;
    if (!newShown && opts.newFromSeq !== undefined && !m.pending && m.seq >= opts.newFromSeq) {
      rows.push({ kind: "new", key: "new" });
      newShown = marker = true;
    }
    const startsGroup = dayChanged || marker || !prev || prev.user_id !== m.user_id || at.getTime() - prevAt > GROUP_GAP_MS;
    rows.push({ kind: "message", key: m.id, m, startsGroup });
    prev = m;
    prevAt = at.getTime();
    prevDay = day;
  }
  return rows;
}

function dayKey(d: Date): string {
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(d: Date, now: Date): string {
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (dayKey(d) === dayKey(now)) return "Today";
  if (dayKey(d) === dayKey(yesterday)) return "Yesterday";
  return d.toLocaleDateString(undefined, {
    weekday: "long", month: "long", day: "numeric", year: d.getFullYear() === now.getFullYear() ? undefined : "numeric",
  });
}

/** Up to two letters for an avatar: the first letters of the first two words, else the name's first letter. */
export function initials(name: string): string {
  const words = name.trim().split(/[\s._-]+/u).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0]);
  return letters.join("").toUpperCase() || "?";
}

const AVATAR_COLOURS = ["bg-indigo-700", "bg-emerald-700", "bg-rose-700", "bg-amber-700", "bg-sky-700", "bg-violet-700", "bg-teal-700", "bg-fuchsia-700"];

/** The same person always gets the same colour (white text on each passes WCAG AA). */
export function avatarColour(userId: string): string {
  let h = 0;
  for (const c of userId) h = (h * 31 + c.codePointAt(0)!) >>> 0;
  return AVATAR_COLOURS[h % AVATAR_COLOURS.length];
}
