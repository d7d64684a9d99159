// Parley protocol v1 client (see connector/PROTOCOL.md): connects,
// authenticates, reconnects with exponential backoff and jitter, resumes
// every room from the last seq it holds, de-duplicates by id, orders by seq,
// and retries unacknowledged sends with the same client_msg_id (the server
// makes that idempotent).

import {
  CodeInProgress, CodeRateLimited, CodeSeqOutOfRange, CodeUnavailable, MembershipLeft, reconnects, Subprotocol,
  ReactionAdd, ReactionRemove, TypeAck, TypeAuth, TypeDeleted, TypeEdited, TypeError as TypeErrorFrame, TypeHistory, TypeMembership,
  TypeChanged, TypeMessage, TypeRead, TypeReact, TypeReacted, TypeReady, TypeRedacted, TypeRestored, TypeSend, TypeSubscribe, TypeSubscribed, TypeThread,
  TypeThreadRead, TypeThumbnail, type Attachment, type Unread,
  type Message as WireMessage,
} from "./contract.gen";
import { applyReaction, reacted } from "./reactions";

export type ConnState = "connecting" | "open" | "reconnecting" | "closed";

/** A message as the server sends it (contract.gen.ts), with what only this client knows. */
export interface Message extends WireMessage {
  /** Local only: sent but not yet acknowledged. */
  pending?: boolean;
  /** Local only: refused for good (the server's error message); never retried. */
  failed?: string;
}

export type Frame = { type: string; [k: string]: unknown };

/** The subset of the browser WebSocket the client uses (tests pass a fake). */
export interface Socket {
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ClientOptions {
  url: string;
  getToken: () => Promise<string>;
  newSocket?: (url: string, protocols: string[]) => Socket;
  random?: () => number;
  /** The first retry after a drop waits up to this long (default 250 ms). */
  firstRetryJitterMs?: number;
  /** The second retry waits about this long, and each later one twice the one before (default 500 ms). */
  initialBackoffMs?: number;
  /** No retry waits longer than this (default 10 s). */
  maxBackoffMs?: number;
  /** A socket not ready by then is given up and tried again (default 10 s). */
  connectTimeoutMs?: number;
  uuid?: () => string;
}

export interface Backoff {
  firstRetryJitterMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const defaultBackoff: Backoff = { firstRetryJitterMs: 250, initialBackoffMs: 500, maxBackoffMs: 10_000 };

/**
 * The wait before reconnect attempt n (0 is the first after a drop), given
 * random() in [0, 1). The first is at once but for a little jitter, so a
 * dropped socket comes back without a pause while a connector's thousands
 * of sockets do not all return in the same millisecond; later ones back off
 * exponentially, half of each wait jittered, up to the cap.
 */
export function reconnectDelay(n: number, random: number, b: Backoff = defaultBackoff): number {
  if (n === 0) return random * b.firstRetryJitterMs;
  return Math.min(b.maxBackoffMs, b.initialBackoffMs * 2 ** (n - 1)) * (0.5 + 0.5 * random);
}

type Listener = (payload: any) => void;

/** One room's messages, ordered by seq, unique by id. */
export class RoomLog {
  readonly messages: Message[] = [];
  private byId = new Map<string, Message>();
  /** History said nothing is older than what is held: the room's first message is here. */
  atStart = false;
  /** The id of the request for older messages in flight, if one is. */
  loadingOlder: string | null = null;
  /**
   * Why moderation hid messages of the reader's own (by message id): the
   * server tells only the author, apart from the message itself, which
   * every member sees the same.
   */
  readonly hiddenReasons = new Map<string, string>();

  /**
   * Adds a page of history. A page older than everything held (scrolling
   * back) goes in front at once rather than message by message, so reading
   * back through a long room stays fast.
   */
  addPage(page: readonly Message[]) {
    const fresh = page.filter((m) => !this.byId.has(m.id)).sort((a, b) => a.seq - b.seq);
    for (const m of page) if (this.byId.has(m.id)) this.upsert(m);
    const first = this.messages.find((m) => !m.pending);
    if (fresh.length && (!first || fresh[fresh.length - 1].seq < first.seq)) {
      for (const m of fresh) this.byId.set(m.id, m);
      this.messages.unshift(...fresh);
      return;
    }
    for (const m of fresh) this.upsert(m);
  }

  /** Inserts or replaces m; returns true if the log changed. */
  upsert(m: Message): boolean {
    const prev = this.byId.get(m.id);
    if (prev) {
      // Every frame carries the whole message, and the server omits flags
      // that are off: a restored message comes without "hidden".
      delete prev.hidden;
      delete prev.deleted;
      delete prev.edited_at;
      delete prev.reactions;
      delete prev.attachments;
      Object.assign(prev, m, { pending: false });
      return true;
    }
    if (m.client_msg_id) {
      // The echo of our own pending send replaces it; pending sends are
      // always at the end, so only the tail is searched.
      for (let i = this.messages.length - 1; i >= 0 && this.messages[i].pending; i--) {
        if (this.messages[i].client_msg_id === m.client_msg_id) {
          this.messages.splice(i, 1);
          break;
        }
      }
    }
    this.byId.set(m.id, m);
    let i = this.messages.length;
    while (i > 0 && (this.messages[i - 1].pending || this.messages[i - 1].seq > m.seq)) i--;
    this.messages.splice(i, 0, m);
    return true;
  }

  /** The message with id, if held. */
  get(id: string): Message | undefined {
    return this.byId.get(id);
  }

  addPending(m: Message) {
    this.messages.push(m);
  }

  /** The highest seq held: the resume point. */
  get lastSeq(): number {
    for (let i = this.messages.length - 1; i >= 0; i--) if (!this.messages[i].pending) return this.messages[i].seq;
    return 0;
  }
}

interface PendingSend {
  frame: Frame;
  roomId: string;
  /** A reply's thread (its root's id): the pending message shows in that thread's log. */
  threadId?: string;
}

/** A reaction shown before the server answered: taken back if refused. */
interface PendingReaction {
  roomId: string;
  messageId: string;
  emoji: string;
  op: string;
}

/** Error codes after which a send is tried again (after retry_after_ms). */
const retryable = new Set<string>([CodeInProgress, CodeUnavailable, CodeRateLimited]);

/** Ids of subscribe frames start with this, so an error about one is recognised. */
const subscribePrefix = "sub-";
/** Ids of requests for older history start with this. */
const historyPrefix = "hist-";

export class ParleyClient {
  state: ConnState = "closed";
  readonly rooms = new Map<string, RoomLog>();
  /** Each thread's replies, by the root's id (see thread()). */
  readonly threads = new Map<string, RoomLog>();
  /**
   * The user's read position in each thread (the last reply seq read), by
   * the root's id: the server's, from subscribed frames and thread_read
   * frames of every tab and device of theirs (see readThread).
   */
  readonly threadReads = new Map<string, number>();
  /** Threads read while disconnected (root id -> room id), told the server on ready. */
  private unsentThreadReads = new Map<string, string>();
  private subscribed = new Set<string>();
  private unanswered = new Map<string, Set<string>>(); // subscribe frame id -> rooms not yet subscribed
  private outbox = new Map<string, PendingSend>(); // client_msg_id -> send
  private reacting = new Map<string, PendingReaction>(); // react frame id -> reaction
  /** The signed-in user, from the ready frame. */
  userId = "";
  private socket: Socket | null = null;
  private listeners = new Map<string, Set<Listener>>();
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the next reconnect attempt starts (ms since the epoch), while reconnecting. */
  retryAt = 0;
  private stopped = true;
  private frameSeq = 0;

  constructor(private opts: ClientOptions) {}

  on(event: string, fn: Listener): () => void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event)!.add(fn);
    return () => this.listeners.get(event)!.delete(fn);
  }

  private emit(event: string, payload?: unknown) {
    for (const fn of this.listeners.get(event) ?? []) fn(payload);
  }

  private setState(s: ConnState) {
    if (this.state !== s) {
      this.state = s;
      this.emit("state", s);
    }
  }

  connect() {
    this.stopped = false;
    this.open();
  }

  close() {
    this.stopped = true;
    this.clearTimers();
    this.socket?.close(1000, "bye");
    this.socket = null;
    this.setState("closed");
  }

  /**
   * Reconnects at once instead of waiting out the backoff: the "Retry now"
   * button, and the browser saying the network is back or the page is
   * visible again. A socket still trying to connect is given up first,
   * since it may hang on a network that changed under it.
   */
  retryNow() {
    if (this.stopped || this.state === "open") return;
    this.clearTimers();
    const old = this.socket;
    this.socket = null;
    old?.close(1000, "retry");
    this.open();
  }

  /** Calls retryNow when the network comes back or the page becomes visible; returns the stop. */
  watchNetwork(win: Pick<Window, "addEventListener" | "removeEventListener">, doc: Pick<Document, "addEventListener" | "removeEventListener" | "visibilityState">): () => void {
    const online = () => this.retryNow();
    const visible = () => { if (doc.visibilityState === "visible") this.retryNow(); };
    win.addEventListener("online", online);
    doc.addEventListener("visibilitychange", visible);
    return () => {
      win.removeEventListener("online", online);
      doc.removeEventListener("visibilitychange", visible);
    };
  }

  private clearTimers() {
    if (this.timer) clearTimeout(this.timer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.timer = this.connectTimer = null;
  }

  room(id: string): RoomLog {
    let r = this.rooms.get(id);
    if (!r) {
      r = new RoomLog();
      this.rooms.set(id, r);
    }
    return r;
  }

  /** A thread's replies (its root's id), as they arrive live and from its history pages. */
  thread(rootId: string): RoomLog {
    let t = this.threads.get(rootId);
    if (!t) {
      t = new RoomLog();
      this.threads.set(rootId, t);
    }
    return t;
  }

  /** The log a message belongs in besides its room's: its thread's, for a reply. */
  private logOf(p: { roomId: string; threadId?: string }): RoomLog {
    return p.threadId ? this.thread(p.threadId) : this.room(p.roomId);
  }

  /**
   * Asks for the page of a thread's replies before the oldest held (the
   * latest when none is), as loadOlder does for a room; the "thread" event
   * names the root when the log changes.
   */
  loadThread(roomId: string, rootId: string, limit = 100): boolean {
    const t = this.thread(rootId);
    if (t.atStart || t.loadingOlder || !this.socket || this.state !== "open") return false;
    const first = t.messages.find((m) => !m.pending);
    t.loadingOlder = historyPrefix + this.nextId();
    this.write({ type: TypeHistory, id: t.loadingOlder, room_id: roomId, thread_id: rootId, before_seq: first?.seq ?? 0, limit });
    this.emit("thread", rootId);
    return true;
  }

  /**
   * Records that the user read root's thread up to reply seq, here and on
   * the server, which tells their other tabs and devices; never backwards.
   */
  readThread(root: { id: string; room_id: string }, seq: number) {
    if (seq <= 0 || seq <= (this.threadReads.get(root.id) ?? 0)) return;
    this.threadReads.set(root.id, seq);
    // Read while offline: told once the socket is back (see TypeReady).
    if (this.socket && this.state === "open") this.write({ type: TypeRead, room_id: root.room_id, thread_id: root.id, seq });
    else this.unsentThreadReads.set(root.id, root.room_id);
    this.emit("room", root.room_id);
  }

  /** Takes read positions the server holds, which only move forward. */
  private mergeThreadReads(roomId: string, reads: Record<string, number>) {
    let changed = false;
    for (const [root, seq] of Object.entries(reads)) {
      if (seq > (this.threadReads.get(root) ?? 0)) {
        this.threadReads.set(root, seq);
        changed = true;
      }
    }
    if (changed) this.emit("room", roomId);
  }

  /** Replies in root's thread: like send, shown at once as pending in the thread and retried until acked. */
  reply(root: { id: string; room_id: string; seq: number }, text: string, me: { user_id: string; username: string }): string {
    const cid = (this.opts.uuid ?? (() => crypto.randomUUID()))();
    const frame = { type: TypeSend, id: cid, room_id: root.room_id, client_msg_id: cid, text, thread_id: root.id, seq: root.seq };
    this.outbox.set(cid, { frame, roomId: root.room_id, threadId: root.id });
    this.thread(root.id).addPending({
      id: "pending:" + cid, room_id: root.room_id, seq: Number.MAX_SAFE_INTEGER, user_id: me.user_id, username: me.username,
      text, client_msg_id: cid, created_at: new Date().toISOString(), pending: true, thread_id: root.id,
    });
    this.emit("thread", root.id);
    this.write(frame);
    return cid;
  }

  /** Subscribes to a room now and after every reconnect, from its last seq. */
  subscribe(roomId: string) {
    this.subscribed.add(roomId);
    this.room(roomId);
    this.subscribeRooms([roomId]);
  }

  /** Sends one subscribe frame for rooms (from their last seq, or from now when fresh). */
  private subscribeRooms(ids: string[], fresh = false) {
    ids = ids.filter((id) => this.subscribed.has(id));
    if (!ids.length || !this.socket || this.state !== "open") return;
    const id = subscribePrefix + this.nextId();
    this.unanswered.set(id, new Set(ids));
    this.write({ type: TypeSubscribe, id, rooms: ids.map((r) => ({ room_id: r, last_seq: fresh ? 0 : this.room(r).lastSeq })) });
  }

  /** Asks again for rooms whose subscribe failed, as the error says. */
  private subscribeFailed(f: Frame) {
    const id = f.id as string | undefined, room = f.room_id as string | undefined;
    const wait = Number(f.retry_after_ms ?? 500);
    if (!id && room && retryable.has(f.code as string)) {
      // A replay the connector started itself (after losing Redis) failed.
      setTimeout(() => this.subscribeRooms([room]), wait);
      return;
    }
    if (typeof id !== "string" || !id.startsWith(subscribePrefix)) return;
    if (room) {
      this.answered(id, room);
      // A room that never reached the seq we hold starts again from now;
      // one whose subscribe or replay failed is asked again from our seq.
      if (f.code === CodeSeqOutOfRange) this.subscribeRooms([room], true);
      else if (retryable.has(f.code as string)) setTimeout(() => this.subscribeRooms([room]), wait);
      return;
    }
    // The whole frame was dropped (flooding): ask again for what it held.
    const rooms = this.unanswered.get(id);
    this.unanswered.delete(id);
    if (rooms && retryable.has(f.code as string)) setTimeout(() => this.subscribeRooms([...rooms]), wait);
  }

  /** Lets the list ask again for older messages, after the wait the error names. */
  private historyFailed(f: Frame) {
    const id = f.id;
    if (typeof id !== "string" || !id.startsWith(historyPrefix)) return;
    for (const [event, logs] of [["room", this.rooms], ["thread", this.threads]] as const) {
      for (const [key, r] of logs) {
        if (r.loadingOlder !== id) continue;
        setTimeout(() => {
          if (r.loadingOlder !== id) return;
          r.loadingOlder = null;
          this.emit(event, key);
        }, Number(f.retry_after_ms ?? 1000));
      }
    }
  }

  /** Takes back a reaction the server refused, and says why. */
  private reactionFailed(f: Frame) {
    const p = this.reacting.get(f.id as string);
    if (!p) return;
    this.reacting.delete(f.id as string);
    const m = this.room(p.roomId).get(p.messageId);
    const undo = p.op === ReactionAdd ? ReactionRemove : ReactionAdd;
    if (m && applyReaction(m, p.emoji, this.userId, undo)) this.emit("room", p.roomId);
    const reply = m?.thread_id ? this.thread(m.thread_id).get(m.id) : undefined;
    if (reply && applyReaction(reply, p.emoji, this.userId, undo)) this.emit("thread", m!.thread_id);
    this.emit("reactionFailed", { ...p, code: f.code, message: f.message });
  }

  /** Marks a room of a subscribe frame as answered. */
  private answered(frameId: string, roomId: string) {
    const rooms = this.unanswered.get(frameId);
    rooms?.delete(roomId);
    if (rooms?.size === 0) this.unanswered.delete(frameId);
  }

  /**
   * Asks for the page of messages before the oldest held (the latest page
   * when none is), unless the room's start is held or a request is in
   * flight; returns whether it asked. Pages are as large as the protocol
   * allows, so a long room is read back in few round trips.
   */
  loadOlder(roomId: string, limit = 100): boolean {
    const r = this.room(roomId);
    if (r.atStart || r.loadingOlder || !this.socket || this.state !== "open") return false;
    const first = r.messages.find((m) => !m.pending);
    r.loadingOlder = historyPrefix + this.nextId();
    this.write({ type: TypeHistory, id: r.loadingOlder, room_id: roomId, before_seq: first?.seq ?? 0, limit });
    this.emit("room", roomId);
    return true;
  }

  /**
   * Sends text, with the files it attaches (uploaded already, see files.ts);
   * the message shows at once as pending and is retried until acked.
   */
  send(roomId: string, text: string, me: { user_id: string; username: string }, attachments: Attachment[] = []): string {
    const cid = (this.opts.uuid ?? (() => crypto.randomUUID()))();
    const frame: Frame = { type: TypeSend, id: cid, room_id: roomId, client_msg_id: cid, text };
    if (attachments.length) frame.attachments = attachments.map((a) => a.id);
    this.outbox.set(cid, { frame, roomId });
    this.room(roomId).addPending({
      id: "pending:" + cid, room_id: roomId, seq: Number.MAX_SAFE_INTEGER, user_id: me.user_id, username: me.username,
      text, client_msg_id: cid, created_at: new Date().toISOString(), pending: true,
      ...(attachments.length ? { attachments } : {}),
    });
    this.emit("room", roomId);
    this.write(frame);
    return cid;
  }

  /**
   * Adds the user's reaction emoji to a message, or takes it back if they
   * reacted with it already. It shows at once, and goes again if the
   * server refuses it (the "reactionFailed" event says why). Returns false
   * when it could not be sent (not connected, or the message is not held).
   */
  toggleReaction(roomId: string, messageId: string, emoji: string): boolean {
    const m = this.room(roomId).get(messageId);
    if (!m || m.pending || !this.userId || !this.socket || this.state !== "open") return false;
    const op = reacted(m, emoji, this.userId) ? ReactionRemove : ReactionAdd;
    const id = "react-" + this.nextId();
    this.reacting.set(id, { roomId, messageId, emoji, op });
    applyReaction(m, emoji, this.userId, op);
    this.emit("room", roomId);
    // A reply shows in its thread from the thread's own copy.
    const reply = m.thread_id ? this.thread(m.thread_id).get(m.id) : undefined;
    if (reply && applyReaction(reply, emoji, this.userId, op)) this.emit("thread", m.thread_id);
    this.write({ type: TypeReact, id, room_id: roomId, message_id: messageId, seq: m.seq, emoji, op });
    return true;
  }

  /** Sends a frame if connected (frames are not queued: state is resynced on reconnect). */
  write(f: Frame) {
    if (this.socket && this.state === "open") this.socket.send(JSON.stringify(f));
  }

  nextId(): string {
    return "f" + ++this.frameSeq;
  }

  private async open() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 && this.state !== "reconnecting" ? "connecting" : "reconnecting");
    let token: string;
    try {
      token = await this.opts.getToken();
    } catch {
      return this.retry();
    }
    if (this.stopped || this.socket) return; // closed, or retried now, while the token came
    const make = this.opts.newSocket ?? ((u: string, p: string[]) => new WebSocket(u, p) as unknown as Socket);
    let ws: Socket;
    try {
      ws = make(this.opts.url, [Subprotocol]);
    } catch {
      return this.retry(); // e.g. a URL the browser refuses: try again like a failed connection
    }
    this.socket = ws;
    this.connectTimer = setTimeout(() => {
      if (this.socket !== ws || this.state === "open") return;
      this.socket = null;
      ws.close(1000, "connect timeout");
      this.retry();
    }, this.opts.connectTimeoutMs ?? 10_000);
    ws.onopen = () => ws.send(JSON.stringify({ type: TypeAuth, id: "auth", token }));
    ws.onmessage = (ev) => {
      for (const line of String(ev.data).split("\n")) {
        if (!line) continue;
        try {
          this.handle(JSON.parse(line));
        } catch {
          /* a frame we cannot parse is skipped */
        }
      }
    };
    ws.onclose = (ev) => {
      if (this.socket !== ws) return;
      this.socket = null;
      this.emit("closed", ev.code);
      if (!this.stopped && reconnects(ev.code)) this.retry();
      else this.setState("closed");
    };
    ws.onerror = () => {};
  }

  /** Schedules a reconnect (see reconnectDelay). */
  private retry() {
    if (this.stopped) return;
    this.clearTimers();
    const delay = reconnectDelay(this.attempt, (this.opts.random ?? Math.random)(), {
      firstRetryJitterMs: this.opts.firstRetryJitterMs ?? defaultBackoff.firstRetryJitterMs,
      initialBackoffMs: this.opts.initialBackoffMs ?? defaultBackoff.initialBackoffMs,
      maxBackoffMs: this.opts.maxBackoffMs ?? defaultBackoff.maxBackoffMs,
    });
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => this.open(), delay);
    // After retryAt is set: the state's listeners read it.
    if (this.state === "reconnecting") this.emit("state", this.state);
    this.setState("reconnecting");
  }

  private handle(f: Frame) {
    switch (f.type) {
      case TypeReady: {
        this.attempt = 0;
        this.userId = String(f.user_id ?? "");
        this.reacting.clear(); // their answers went with the old socket; history pages say what was kept
        if (this.connectTimer) clearTimeout(this.connectTimer);
        this.setState("open");
        this.unanswered.clear(); // what the old socket did not answer is asked again here
        for (const [id, r] of this.rooms) {
          if (r.loadingOlder) {
            r.loadingOlder = null; // lost with the old socket: the list asks again
            this.emit("room", id);
          }
        }
        for (const [id, t] of this.threads) {
          if (t.loadingOlder) {
            t.loadingOlder = null;
            this.emit("thread", id);
          }
        }
        this.subscribeRooms([...this.subscribed]);
        for (const p of this.outbox.values()) this.write(p.frame); // same client_msg_id: idempotent
        for (const [root, room] of this.unsentThreadReads) {
          this.write({ type: TypeRead, room_id: room, thread_id: root, seq: this.threadReads.get(root) });
        }
        this.unsentThreadReads.clear();
        this.emit("ready", f);
        break;
      }
      case TypeMessage:
      case TypeEdited:
      case TypeDeleted:
      case TypeRedacted:
      case TypeRestored:
      case TypeThumbnail:
      case TypeThread: {
        const m = f.message as Message;
        const r = this.room(m.room_id);
        if (f.type === TypeRedacted && typeof f.reason === "string") r.hiddenReasons.set(m.id, f.reason);
        if (f.type === TypeRestored) r.hiddenReasons.delete(m.id);
        if (m.thread_id) {
          // A reply goes in its thread too: a copy, since each log updates its own.
          const t = this.thread(m.thread_id);
          if (f.type === TypeRedacted && typeof f.reason === "string") t.hiddenReasons.set(m.id, f.reason);
          if (t.upsert({ ...m })) this.emit("thread", m.thread_id);
        }
        if (r.upsert(m)) this.emit("room", m.room_id);
        if (f.type === TypeMessage) this.emit("message", m);
        break;
      }
      case TypeChanged: {
        // A message that changed while this client was away, replayed on
        // resume: it replaces the copy held, and only that, since one not
        // held is older than what is shown (inserting it would leave a
        // hole before it that scrolling back never fills).
        const m = f.message as Message;
        const r = this.room(m.room_id);
        if (!m.hidden) r.hiddenReasons.delete(m.id);
        if (r.get(m.id) && r.upsert(m)) this.emit("room", m.room_id);
        const t = m.thread_id ? this.threads.get(m.thread_id) : undefined;
        if (t?.get(m.id) && t.upsert({ ...m })) this.emit("thread", m.thread_id);
        break;
      }
      case TypeReacted: {
        const m = this.room(f.room_id as string).get(f.message_id as string);
        if (m && applyReaction(m, f.emoji as string, f.user_id as string, f.op as string)) this.emit("room", f.room_id);
        const reply = m?.thread_id ? this.thread(m.thread_id).get(m.id) : undefined;
        if (reply && applyReaction(reply, f.emoji as string, f.user_id as string, f.op as string)) this.emit("thread", m!.thread_id);
        this.emit("reacted", f);
        break;
      }
      case TypeAck: {
        this.reacting.delete(f.id as string);
        const cid = f.client_msg_id as string | undefined;
        if (cid && this.outbox.has(cid)) {
          const p = this.outbox.get(cid)!;
          this.outbox.delete(cid);
          const r = this.logOf(p);
          const pending = r.messages.find((m) => m.pending && m.client_msg_id === cid);
          if (pending && !r.messages.some((m) => m.id === f.message_id)) {
            r.messages.splice(r.messages.indexOf(pending), 1);
            r.upsert({ ...pending, id: f.message_id as string, seq: f.seq as number, pending: false });
          }
          if (p.threadId) this.emit("thread", p.threadId);
          else this.emit("room", p.roomId);
        }
        this.emit("ack", f);
        break;
      }
      case TypeHistory: {
        if (f.thread_id) {
          const t = this.thread(f.thread_id as string);
          t.addPage((f.messages as Message[]) ?? []);
          for (const [id, why] of Object.entries((f.hidden_reasons as Record<string, string>) ?? {})) t.hiddenReasons.set(id, why);
          if (f.id !== undefined && f.id === t.loadingOlder) {
            t.loadingOlder = null;
            if (!f.more) t.atStart = true;
          }
          this.emit("thread", f.thread_id);
          this.emit("history", f);
          break;
        }
        const r = this.room(f.room_id as string);
        r.addPage((f.messages as Message[]) ?? []);
        for (const [id, why] of Object.entries((f.hidden_reasons as Record<string, string>) ?? {})) r.hiddenReasons.set(id, why);
        if (f.id !== undefined && f.id === r.loadingOlder) {
          r.loadingOlder = null;
          if (!f.more) r.atStart = true;
        }
        this.emit("room", f.room_id);
        this.emit("history", f);
        break;
      }
      case TypeSubscribed: {
        this.answered(f.id as string, f.room_id as string);
        const threads = (f.unread as Unread | undefined)?.threads;
        if (threads) this.mergeThreadReads(f.room_id as string, threads);
        this.emit(f.type, f);
        break;
      }
      case TypeThreadRead:
        this.mergeThreadReads(f.room_id as string, { [f.thread_id as string]: Number(f.read_seq) });
        break;
      case TypeMembership:
        // The server has already stopped a room we left: no resubscribing to it.
        if (f.state === MembershipLeft) this.subscribed.delete(f.room_id as string);
        this.emit("membership", f);
        break;
      case TypeErrorFrame: {
        this.subscribeFailed(f);
        this.historyFailed(f);
        this.reactionFailed(f);
        const p = this.outbox.get(f.id as string);
        if (p && retryable.has(f.code as string)) {
          setTimeout(() => this.write(p.frame), Number(f.retry_after_ms ?? 500));
        } else if (p) {
          // Refused for good (e.g. no longer a member): shown as not sent, not retried.
          this.outbox.delete(f.id as string);
          const m = this.logOf(p).messages.find((x) => x.pending && x.client_msg_id === f.id);
          if (m) m.failed = String(f.message ?? f.code);
          if (p.threadId) this.emit("thread", p.threadId);
          else this.emit("room", p.roomId);
        }
        this.emit("error", f);
        break;
      }
      default:
        this.emit(f.type, f);
    }
  }
}
