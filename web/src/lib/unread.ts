// Per-room unread counts (connector/PROTOCOL.md, "Unread counts"): the
// server's counts from subscribed and unread frames, plus what arrives
// live after them. A read anywhere (this tab, another tab, another device)
// comes back as an unread frame that replaces the room's counts.

import type { Message } from "./client";

/** The "unread" object of subscribed and unread frames. */
export interface Counts {
  read_seq: number;
  messages: number;
  more?: boolean;
  up_to: number;
  mentions: number[];
}

export interface Badge {
  messages: number;
  /** messages is a floor: there are older unread ones. */
  more: boolean;
  mentions: number;
}

interface RoomUnread {
  counts: Counts;
  live: Set<number>; // seqs of others' messages after counts.up_to
  mentions: Set<number>;
}

export class UnreadCounts {
  private rooms = new Map<string, RoomUnread>();

  constructor(private me: string) {}

  /** Takes the server's counts for a room; live messages after them stay counted. */
  set(roomId: string, c: Counts) {
    const prev = this.rooms.get(roomId);
    const after = (s: number) => s > c.read_seq;
    this.rooms.set(roomId, {
      counts: c,
      live: new Set([...(prev?.live ?? [])].filter((s) => s > c.up_to && after(s))),
      // A set: a live mention the server had indexed by then is in both.
      mentions: new Set([...(c.mentions ?? []), ...(prev?.mentions ?? [])].filter(after)),
    });
  }

  /** Counts a live message; returns whether the room's badge changed. */
  message(m: Message): boolean {
    const r = this.rooms.get(m.room_id);
    if (!r || m.user_id === this.me || m.seq <= r.counts.up_to || m.seq <= r.counts.read_seq || r.live.has(m.seq)) return false;
    r.live.add(m.seq);
    return true;
  }

  /** Counts a live notification of a message that notified us; returns whether the badge changed. */
  mention(roomId: string, seq: number): boolean {
    const r = this.rooms.get(roomId);
    if (!r || !(seq > r.counts.read_seq) || r.mentions.has(seq)) return false;
    r.mentions.add(seq);
    return true;
  }

  forget(roomId: string) {
    this.rooms.delete(roomId);
  }

  badge(roomId: string): Badge {
    const r = this.rooms.get(roomId);
    if (!r) return { messages: 0, more: false, mentions: 0 };
    return { messages: r.counts.messages + r.live.size, more: !!r.counts.more, mentions: r.mentions.size };
  }
}

/** What a room's badge says ("" for none), its accessible label, and
 * whether it asks for attention (mentions; any message in a direct room,
 * where every message is addressed to you and counted as a mention). */
export function badgeText(b: Badge, direct = false): { text: string; label: string; urgent: boolean } {
  if (b.messages === 0 && b.mentions === 0) return { text: "", label: "", urgent: false };
  const n = b.messages + (b.more ? "+" : "");
  if (direct) return { text: n, label: `${n} unread message${b.messages === 1 && !b.more ? "" : "s"}`, urgent: true };
  const text = b.mentions > 0 ? `@${b.mentions} · ${n}` : n;
  const label = `${n} unread message${b.messages === 1 && !b.more ? "" : "s"}` +
    (b.mentions > 0 ? `, ${b.mentions} mention${b.mentions === 1 ? "" : "s"}` : "");
  return { text, label, urgent: b.mentions > 0 };
}
