import { describe, expect, it, vi, beforeEach, afterEach } from "vitest";
import { ParleyClient, RoomLog, reconnectDelay, defaultBackoff, type Socket, type Message } from "./client";

// FakeSocket plays the server side of one connection.
class FakeSocket implements Socket {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: any[] = [];
  constructor(public url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.drop(1000);
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(...frames: object[]) {
    this.onmessage?.({ data: frames.map((f) => JSON.stringify(f)).join("\n") });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

const msg = (seq: number, extra: Partial<Message> = {}): Message => ({
  id: "m" + seq, room_id: "r", seq, user_id: "u2", username: "bob", text: "t" + seq, created_at: "2026-01-01T00:00:00Z", ...extra,
});

function setup() {
  const sockets: FakeSocket[] = [];
  let n = 0;
  const client = new ParleyClient({
    url: "ws://x/ws",
    getToken: async () => "token",
    newSocket: (u) => {
      const s = new FakeSocket(u);
      sockets.push(s);
      return s;
    },
    random: () => 1,
    firstRetryJitterMs: 50,
    initialBackoffMs: 100,
    maxBackoffMs: 1000,
    uuid: () => "cid" + ++n,
  });
  return { client, sockets };
}

async function ready(s: FakeSocket) {
  s.open();
  s.push({ type: "ready", user_id: "u1" });
  await Promise.resolve();
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("RoomLog", () => {
  it("orders by seq and de-duplicates by id", () => {
    const r = new RoomLog();
    for (const s of [3, 1, 2, 2, 3, 5, 4]) r.upsert(msg(s));
    expect(r.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(r.lastSeq).toBe(5);
  });
  it("keeps 10,000 messages ordered and unique, whatever order they arrive in", () => {
    const r = new RoomLog();
    const seqs = Array.from({ length: 10000 }, (_, i) => i + 1);
    // History pages arrive newest first, live ones interleave, some twice.
    for (let page = 9900; page >= 0; page -= 100) for (const s of seqs.slice(page, page + 100)) r.upsert(msg(s));
    for (const s of [5, 500, 9999]) r.upsert(msg(s));
    expect(r.messages).toHaveLength(10000);
    expect(r.messages.every((m, i) => m.seq === i + 1)).toBe(true);
  });
  it("puts a page of older history in front, and merges one that overlaps", () => {
    const r = new RoomLog();
    for (const s of [101, 102]) r.upsert(msg(s));
    r.addPage([99, 100, 98].map((s) => msg(s)));
    expect(r.messages.map((m) => m.seq)).toEqual([98, 99, 100, 101, 102]);
    r.addPage([96, 97, 98, 103].map((s) => msg(s, { text: "again" })));
    expect(r.messages.map((m) => m.seq)).toEqual([96, 97, 98, 99, 100, 101, 102, 103]);
    expect(r.messages[2].text).toBe("again"); // a held message is replaced by the page's copy
  });
  it("applies edits and redactions in place", () => {
    const r = new RoomLog();
    r.upsert(msg(1));
    r.upsert(msg(1, { text: "", hidden: true }));
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0].hidden).toBe(true);
  });
  it("shows a restored message again (the server omits flags that are off)", () => {
    const r = new RoomLog();
    r.upsert(msg(1));
    r.upsert(msg(1, { text: "", hidden: true }));
    r.upsert(msg(1)); // a restored frame: the whole message, no "hidden"
    expect(r.messages[0].hidden).toBeFalsy();
    expect(r.messages[0].text).toBe("t1");
  });
});

describe("ParleyClient", () => {
  it("authenticates first, then resumes every room from its last seq after a reconnect", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    expect(sockets[0].sent[0]).toMatchObject({ type: "auth", token: "token" });
    client.subscribe("r");
    expect(sockets[0].sent[1]).toMatchObject({ type: "subscribe", rooms: [{ room_id: "r", last_seq: 0 }] });
    sockets[0].push({ type: "message", room_id: "r", message: msg(1) }, { type: "message", room_id: "r", message: msg(2) });

    sockets[0].drop(4000);
    expect(client.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(100);
    expect(sockets).toHaveLength(2);
    await ready(sockets[1]);
    expect(client.state).toBe("open");
    const sub = sockets[1].sent.find((f) => f.type === "subscribe");
    expect(sub.rooms).toEqual([{ room_id: "r", last_seq: 2 }]);
    // The server replays what was missed; an overlap and a gap-filler arrive out of order.
    sockets[1].push(
      { type: "message", room_id: "r", message: msg(4) },
      { type: "message", room_id: "r", message: msg(2) },
      { type: "message", room_id: "r", message: msg(3) },
    );
    expect(client.room("r").messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it("applies changed frames of a resume to the messages it holds, and only those", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    client.subscribe("r");
    sockets[0].push({ type: "message", room_id: "r", message: msg(5) }, { type: "message", room_id: "r", message: msg(6, { thread_id: "m5" }) });
    sockets[0].push(
      { type: "changed", room_id: "r", message: msg(5, { text: "edited", edited_at: "2026-01-01T00:00:00Z" }) },
      { type: "changed", room_id: "r", message: msg(6, { thread_id: "m5", deleted: true, text: "" }) },
      { type: "changed", room_id: "r", message: msg(2, { text: "older than anything held" }) },
    );
    expect(client.room("r").get("m5")).toMatchObject({ text: "edited", edited_at: "2026-01-01T00:00:00Z" });
    expect(client.thread("m5").get("m6")).toMatchObject({ deleted: true, text: "" });
    expect(client.room("r").messages.map((m) => m.seq)).toEqual([5, 6]);
  });

  it("stops resubscribing a room it was removed from", async () => {
    const { client, sockets } = setup();
    const heard: unknown[] = [];
    client.on("membership", (f) => heard.push(f));
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    client.subscribe("r");
    client.subscribe("q");
    sockets[0].push({ type: "membership", room_id: "r", user_id: "u1", state: "left", reason: "kicked" });
    sockets[0].push({ type: "membership", room_id: "n", user_id: "u1", state: "joined", reason: "invited" });
    expect(heard).toHaveLength(2);
    sockets[0].drop(4000);
    await vi.advanceTimersByTimeAsync(100);
    await ready(sockets[1]);
    const sub = sockets[1].sent.find((f) => f.type === "subscribe");
    expect(sub.rooms).toEqual([{ room_id: "q", last_seq: 0 }]);
  });

  it("retries at once after a drop, then backs off exponentially with jitter, up to the cap", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const before = sockets.length;
      sockets[sockets.length - 1].drop(1006);
      let waited = 0;
      while (sockets.length === before) {
        await vi.advanceTimersByTimeAsync(10);
        waited += 10;
      }
      delays.push(waited);
    }
    expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    // A socket that gets as far as ready starts the count again.
    await ready(sockets[sockets.length - 1]);
    sockets[sockets.length - 1].drop(1006);
    const before = sockets.length;
    await vi.advanceTimersByTimeAsync(50);
    expect(sockets.length).toBe(before + 1);
  });

  it("reconnects at once on Retry now, when the network returns and when the page shows again", async () => {
    const { client, sockets } = setup();
    const win = new EventTarget(), doc = Object.assign(new EventTarget(), { visibilityState: "hidden" as DocumentVisibilityState });
    const stop = client.watchNetwork(win, doc);
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    win.dispatchEvent(new Event("online"));
    expect(sockets).toHaveLength(1); // open: nothing to do
    // Far into the backoff: the next try is seconds away.
    for (let i = 0; i < 5; i++) {
      sockets[sockets.length - 1].drop(1006);
      await vi.advanceTimersByTimeAsync(1000);
    }
    const n = sockets.length;
    sockets[n - 1].drop(1006);
    expect(client.state).toBe("reconnecting");
    expect(client.retryAt - Date.now()).toBe(1000);
    client.retryNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(n + 1);
    sockets[n].drop(1006);
    win.dispatchEvent(new Event("online"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(n + 2);
    sockets[n + 1].drop(1006);
    doc.dispatchEvent(new Event("visibilitychange")); // still hidden
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(n + 2);
    doc.visibilityState = "visible";
    doc.dispatchEvent(new Event("visibilitychange"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(n + 3);
    await ready(sockets[n + 2]);
    expect(client.state).toBe("open");
    stop();
    sockets[n + 2].drop(1006);
    win.dispatchEvent(new Event("online"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(n + 3); // unwatched: only the timer retries
    client.close();
  });

  it("tries again when the browser refuses to open a socket at all", async () => {
    let refuse = 2, opened = 0;
    const client = new ParleyClient({
      url: "ws://x/ws", getToken: async () => "token", random: () => 1, firstRetryJitterMs: 50, initialBackoffMs: 100,
      newSocket: (u) => {
        if (refuse-- > 0) throw new DOMException("refused", "SecurityError");
        opened++;
        return new FakeSocket(u);
      },
    });
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(client.state).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(50 + 100);
    expect(opened).toBe(1);
    client.close();
  });

  it("gives up a socket that never gets ready and tries again", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(sockets).toHaveLength(1);
    sockets[0].open(); // the TCP connection is up, the server never answers
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sockets[0].readyState).toBe(3);
    await vi.advanceTimersByTimeAsync(50);
    expect(sockets).toHaveLength(2);
    client.close();
  });

  it("computes the backoff: first at once with jitter, then doubling, capped", () => {
    const b = { firstRetryJitterMs: 200, initialBackoffMs: 500, maxBackoffMs: 4000 };
    expect(reconnectDelay(0, 0, b)).toBe(0);
    expect(reconnectDelay(0, 0.999, b)).toBeLessThan(200);
    expect([1, 2, 3, 4, 5, 30].map((n) => reconnectDelay(n, 1, b))).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect([1, 2, 3, 4].map((n) => reconnectDelay(n, 0, b))).toEqual([250, 500, 1000, 2000]);
    // The defaults: back within a quarter second, never more than 10 s apart.
    expect(reconnectDelay(0, 0.999)).toBeLessThan(250);
    expect(reconnectDelay(100, 1)).toBe(defaultBackoff.maxBackoffMs);
    expect(defaultBackoff.maxBackoffMs).toBeLessThanOrEqual(10_000);
  });

  it("reads a room back page by page to its first message, one request at a time", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    expect(client.loadOlder("r")).toBe(false); // not connected: the list asks again once ready
    await ready(sockets[0]);
    const hist = () => sockets[0].sent.filter((f) => f.type === "history");
    expect(client.loadOlder("r")).toBe(true);
    expect(client.loadOlder("r")).toBe(false); // one in flight
    expect(hist()[0]).toMatchObject({ room_id: "r", before_seq: 0, limit: 100 });
    const page = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => msg(from + i));
    sockets[0].push({ type: "history", id: hist()[0].id, room_id: "r", messages: page(201, 300), more: true });
    expect(client.loadOlder("r")).toBe(true);
    expect(hist()[1]).toMatchObject({ before_seq: 201 });
    // A failed request is asked again after the wait the error names.
    sockets[0].push({ type: "error", id: hist()[1].id, code: "unavailable", retry_after_ms: 500 });
    expect(client.loadOlder("r")).toBe(false);
    await vi.advanceTimersByTimeAsync(500);
    expect(client.loadOlder("r")).toBe(true);
    sockets[0].push({ type: "history", id: hist()[2].id, room_id: "r", messages: page(101, 200), more: true });
    client.loadOlder("r");
    sockets[0].push({ type: "history", id: hist()[3].id, room_id: "r", messages: page(1, 100), more: false });
    const r = client.room("r");
    expect(r.atStart).toBe(true);
    expect(r.messages.map((m) => m.seq)).toEqual(page(1, 300).map((m) => m.seq));
    expect(client.loadOlder("r")).toBe(false); // nothing older
  });

  it("keeps why a message of yours was hidden, until it is restored", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    sockets[0].push({ type: "message", room_id: "r", message: msg(1, { user_id: "u1" }) });
    // The room's frame (no reason) and the author's own (with it) come in either order.
    sockets[0].push({ type: "redacted", room_id: "r", message: msg(1, { user_id: "u1", hidden: true, text: "" }), reason: "flagged as toxic" });
    sockets[0].push({ type: "redacted", room_id: "r", message: msg(1, { user_id: "u1", hidden: true, text: "" }) });
    const r = client.room("r");
    expect(r.messages[0].hidden).toBe(true);
    expect(r.hiddenReasons.get("m1")).toBe("flagged as toxic");
    sockets[0].push({ type: "restored", room_id: "r", message: msg(1, { user_id: "u1" }) });
    expect(r.hiddenReasons.has("m1")).toBe(false);
    sockets[0].push({ type: "history", id: "x", room_id: "r", messages: [msg(1, { user_id: "u1", hidden: true, text: "" })], hidden_reasons: { m1: "flagged as insult" } });
    expect(r.hiddenReasons.get("m1")).toBe("flagged as insult");
  });

  it("retries an unacknowledged send with the same client_msg_id and shows it once", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    client.subscribe("r");
    const cid = client.send("r", "hello", { user_id: "u1", username: "ada" });
    expect(client.room("r").messages[0]).toMatchObject({ pending: true, text: "hello" });
    const first = sockets[0].sent.find((f) => f.type === "send");
    sockets[0].drop(1006); // lost before the ack
    await vi.advanceTimersByTimeAsync(100);
    await ready(sockets[1]);
    const retried = sockets[1].sent.find((f) => f.type === "send");
    expect(retried.client_msg_id).toBe(first.client_msg_id);
    expect(retried.client_msg_id).toBe(cid);
    sockets[1].push(
      { type: "message", room_id: "r", message: msg(7, { id: "real", user_id: "u1", username: "ada", text: "hello", client_msg_id: cid }) },
      { type: "ack", id: cid, message_id: "real", seq: 7, client_msg_id: cid },
    );
    const msgs = client.room("r").messages;
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatchObject({ id: "real", seq: 7 });
    expect(msgs[0].pending).toBeFalsy();
  });

  it("sends attachments by id, shows them pending, and takes the thumbnail frame's copy", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    client.subscribe("r");
    const file = { id: "f1", name: "cat.png", size: 10, content_type: "image/png" };
    const cid = client.send("r", "", { user_id: "u1", username: "ada" }, [file]);
    expect(sockets[0].sent.find((f) => f.type === "send")).toMatchObject({ text: "", attachments: ["f1"] });
    expect(client.room("r").messages[0]).toMatchObject({ pending: true, attachments: [file] });
    sockets[0].push(
      { type: "message", room_id: "r", message: msg(3, { id: "real", user_id: "u1", text: "", client_msg_id: cid, attachments: [file] }) },
      { type: "thumbnail", room_id: "r", message: msg(3, { id: "real", user_id: "u1", text: "", attachments: [{ ...file, thumbnail: { width: 320, height: 200 } }] }) },
    );
    expect(client.room("r").messages[0].attachments?.[0].thumbnail).toEqual({ width: 320, height: 200 });
    sockets[0].push({ type: "redacted", room_id: "r", message: msg(3, { id: "real", user_id: "u1", text: "", hidden: true }) });
    expect(client.room("r").messages[0].attachments).toBeUndefined();
  });

  it("retries a rate-limited send after the wait, and gives up on a refused one", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    const sends = () => sockets[sockets.length - 1].sent.filter((f) => f.type === "send").map((f) => f.client_msg_id);
    const limited = client.send("r", "fast", { user_id: "u1", username: "ada" });
    const refused = client.send("r", "kicked", { user_id: "u1", username: "ada" });
    sockets[0].push(
      { type: "error", id: limited, code: "rate_limited", message: "sending too fast", retry_after_ms: 200 },
      { type: "error", id: refused, code: "not_a_member", message: "you are not a member of this room" },
    );
    await vi.advanceTimersByTimeAsync(199);
    expect(sends()).toEqual([limited, refused]);
    await vi.advanceTimersByTimeAsync(1);
    expect(sends()).toEqual([limited, refused, limited]);
    const shown = client.room("r").messages.find((m) => m.client_msg_id === refused);
    expect(shown).toMatchObject({ pending: true, failed: "you are not a member of this room" });
    expect(client.room("r").messages.find((m) => m.client_msg_id === limited)?.failed).toBeUndefined();
    sockets[0].drop(1006); // a reconnect resends what is still unacknowledged, not what was refused
    await vi.advanceTimersByTimeAsync(100);
    await ready(sockets[1]);
    expect(sends()).toEqual([limited]);
  });

  it("asks again for rooms whose subscribe was refused or failed, as the error says", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    const s = sockets[0];
    const subscribes = () => s.sent.filter((f) => f.type === "subscribe");
    client.subscribe("r");
    s.push({ type: "message", room_id: "r", message: msg(5) });
    // Dropped by the flood limiter: the whole frame, named by its id, after the wait.
    s.push({ type: "error", id: subscribes()[0].id, code: "rate_limited", message: "slow down", retry_after_ms: 300 });
    await vi.advanceTimersByTimeAsync(299);
    expect(subscribes()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(subscribes()[1].rooms).toEqual([{ room_id: "r", last_seq: 5 }]);
    // Subscribed, but the replay of what was missed failed: again from the same seq.
    s.push({ type: "subscribed", id: subscribes()[1].id, room_id: "r", seq: 9 });
    s.push({ type: "error", id: subscribes()[1].id, code: "unavailable", room_id: "r", message: "retry", retry_after_ms: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(subscribes()[2].rooms).toEqual([{ room_id: "r", last_seq: 5 }]);
    // The room never reached the seq held: from now on, without waiting.
    s.push({ type: "error", id: subscribes()[2].id, code: "seq_out_of_range", room_id: "r", message: "beyond the head" });
    expect(subscribes()[3].rooms).toEqual([{ room_id: "r", last_seq: 0 }]);
    // A replay the connector started itself failed: no frame id, the room named.
    s.push({ type: "error", code: "unavailable", room_id: "r", message: "retry", retry_after_ms: 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(subscribes()[4].rooms).toEqual([{ room_id: "r", last_seq: 5 }]);
    // Errors about frames that are not subscribes, or refusals for good, ask nothing again.
    s.push({ type: "error", id: "f99", code: "rate_limited", message: "slow down", retry_after_ms: 10 });
    s.push({ type: "error", id: subscribes()[4].id, code: "not_a_member", room_id: "r", message: "no" });
    await vi.advanceTimersByTimeAsync(5000);
    expect(subscribes()).toHaveLength(5);
  });

  it("applies reactions live, shows its own at once and takes back one the server refuses", async () => {
    const { client, sockets } = setup();
    client.connect();
    await Promise.resolve();
    await ready(sockets[0]);
    client.subscribe("r");
    sockets[0].push({ type: "history", room_id: "r", messages: [msg(1, { reactions: [{ emoji: "👍", user_ids: ["u2"] }] })], more: false });
    const m = () => client.room("r").get("m1")!;
    sockets[0].push({ type: "reacted", room_id: "r", message_id: "m1", seq: 1, emoji: "🎉", user_id: "u3", op: "add" });
    expect(m().reactions).toEqual([{ emoji: "👍", user_ids: ["u2"] }, { emoji: "🎉", user_ids: ["u3"] }]);

    // Ours shows before the server answers, and its echo counts once.
    expect(client.toggleReaction("r", "m1", "👍")).toBe(true);
    const sent = sockets[0].sent.at(-1);
    expect(sent).toMatchObject({ type: "react", room_id: "r", message_id: "m1", seq: 1, emoji: "👍", op: "add" });
    expect(m().reactions![0].user_ids).toEqual(["u2", "u1"]);
    sockets[0].push({ type: "reacted", room_id: "r", message_id: "m1", seq: 1, emoji: "👍", user_id: "u1", op: "add" },
      { type: "ack", id: sent.id, message_id: "m1", seq: 1 });
    expect(m().reactions![0].user_ids).toEqual(["u2", "u1"]);

    // Clicking it again takes it back.
    client.toggleReaction("r", "m1", "👍");
    expect(sockets[0].sent.at(-1)).toMatchObject({ op: "remove", emoji: "👍" });
    expect(m().reactions![0].user_ids).toEqual(["u2"]);

    // Refused: shown as it was, with why.
    const failed: unknown[] = [];
    client.on("reactionFailed", (p) => failed.push(p));
    client.toggleReaction("r", "m1", "😮");
    expect(m().reactions!.map((r) => r.emoji)).toEqual(["👍", "🎉", "😮"]);
    sockets[0].push({ type: "error", id: sockets[0].sent.at(-1).id, code: "reaction_limit", message: "too many" });
    expect(m().reactions!.map((r) => r.emoji)).toEqual(["👍", "🎉"]);
    expect(failed).toEqual([expect.objectContaining({ emoji: "😮", code: "reaction_limit", message: "too many" })]);

    // A whole message in a frame replaces the list: none left means none.
    sockets[0].push({ type: "edited", room_id: "r", message: msg(1, { text: "edited" }) });
    expect(m().reactions).toBeUndefined();
  });

  it("does not reconnect after a terminal close", async () => {
    const { client, sockets } = setup();
    client.connect();
    await vi.advanceTimersByTimeAsync(0);
    await ready(sockets[0]);
    sockets[0].drop(4403);
    await vi.advanceTimersByTimeAsync(5000);
    expect(sockets).toHaveLength(1);
    expect(client.state).toBe("closed");
  });
});

describe("threads", () => {
  it("files replies under their thread, pages a thread, and shows a reply pending until acked", async () => {
    const { client, sockets } = setup();
    client.connect();
    await Promise.resolve();
    await ready(sockets[0]);
    client.subscribe("r");
    sockets[0].push({ type: "history", room_id: "r", messages: [msg(1), msg(2, { thread_id: "m1" })], more: false });
    expect(client.thread("m1").messages.map((m) => m.seq)).toEqual([]); // room pages are the room's
    sockets[0].push({ type: "message", room_id: "r", message: msg(3, { thread_id: "m1" }) });
    expect(client.thread("m1").messages.map((m) => m.id)).toEqual(["m3"]);
    expect(client.room("r").get("m3")?.thread_id).toBe("m1");

    // The thread's history: asked with thread_id, answered into the thread's log only.
    const events: unknown[] = [];
    client.on("thread", (id) => events.push(id));
    expect(client.loadThread("r", "m1", 20)).toBe(true);
    const ask = sockets[0].sent.at(-1);
    expect(ask).toMatchObject({ type: "history", room_id: "r", thread_id: "m1", before_seq: 3, limit: 20 });
    expect(client.loadThread("r", "m1")).toBe(false); // one request at a time
    sockets[0].push({ type: "history", id: ask.id, room_id: "r", thread_id: "m1", messages: [msg(2, { thread_id: "m1" })], more: false });
    expect(client.thread("m1").messages.map((m) => m.seq)).toEqual([2, 3]);
    expect(client.thread("m1").atStart).toBe(true);
    expect(client.room("r").messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(events).toContain("m1");

    // A reply names the root's id and seq, shows pending in the thread, and the echo replaces it.
    client.reply(client.room("r").get("m1")!, "agreed", { user_id: "u1", username: "ada" });
    const sent = sockets[0].sent.at(-1);
    expect(sent).toMatchObject({ type: "send", room_id: "r", thread_id: "m1", seq: 1, text: "agreed" });
    expect(client.thread("m1").messages.at(-1)).toMatchObject({ pending: true, text: "agreed" });
    expect(client.room("r").messages.some((m) => m.pending)).toBe(false);
    sockets[0].push({ type: "ack", id: sent.id, client_msg_id: sent.client_msg_id, message_id: "m4", seq: 4 },
      { type: "message", room_id: "r", message: msg(4, { thread_id: "m1", user_id: "u1", text: "agreed", client_msg_id: sent.client_msg_id }) });
    expect(client.thread("m1").messages.map((m) => [m.id, !!m.pending])).toEqual([["m2", false], ["m3", false], ["m4", false]]);

    // The root's new summary replaces the root the room holds.
    const thread = { reply_count: 3, last_reply_seq: 4, last_reply_at: "2026-01-01T00:00:00Z", last_reply_user_id: "u1", last_reply_username: "ada", participants: ["u2", "u1"] };
    sockets[0].push({ type: "thread", room_id: "r", message: msg(1, { thread }) });
    expect(client.room("r").get("m1")?.thread).toEqual(thread);
  });

  it("shows a reaction to a reply in its thread at once, and takes it back if refused", async () => {
    const { client, sockets } = setup();
    client.connect();
    await Promise.resolve();
    await ready(sockets[0]);
    client.subscribe("r");
    sockets[0].push({ type: "message", room_id: "r", message: msg(2, { thread_id: "m1" }) });
    const inThread = () => client.thread("m1").get("m2")!;
    expect(client.toggleReaction("r", "m2", "👍")).toBe(true);
    expect(inThread().reactions).toEqual([{ emoji: "👍", user_ids: ["u1"] }]);
    const sent = sockets[0].sent.at(-1);
    sockets[0].push({ type: "reacted", room_id: "r", message_id: "m2", seq: 2, emoji: "👍", user_id: "u1", op: "add" });
    expect(inThread().reactions).toEqual([{ emoji: "👍", user_ids: ["u1"] }]); // the echo counts once
    sockets[0].push({ type: "error", id: sent.id, code: "forbidden", message: "no" });
    expect(inThread().reactions).toBeUndefined();
  });

  it("keeps thread read positions from the server, shares its own reads, and never moves them back", async () => {
    const { client, sockets } = setup();
    client.connect();
    await Promise.resolve();
    await ready(sockets[0]);
    client.subscribe("r");
    const rooms: unknown[] = [];
    client.on("room", (id) => rooms.push(id));
    sockets[0].push({ type: "subscribed", id: sockets[0].sent.at(-1).id, room_id: "r", seq: 9,
      unread: { read_seq: 0, messages: 0, up_to: 9, mentions: [], threads: { m1: 4, m2: 7 } } });
    expect(client.threadReads.get("m1")).toBe(4);
    expect(rooms).toContain("r"); // the room's markers are drawn again
    sockets[0].push({ type: "thread_read", room_id: "r", thread_id: "m1", read_seq: 6 }); // another tab read it
    expect(client.threadReads.get("m1")).toBe(6);
    sockets[0].push({ type: "thread_read", room_id: "r", thread_id: "m2", read_seq: 5 }); // crossed a newer read
    expect(client.threadReads.get("m2")).toBe(7);

    client.readThread({ id: "m1", room_id: "r" }, 8);
    expect(sockets[0].sent.at(-1)).toEqual({ type: "read", room_id: "r", thread_id: "m1", seq: 8 });
    const sent = sockets[0].sent.length;
    client.readThread({ id: "m1", room_id: "r" }, 8);
    client.readThread({ id: "m2", room_id: "r" }, 3);
    expect(sockets[0].sent).toHaveLength(sent); // nothing new to tell
    expect(client.threadReads.get("m2")).toBe(7);

    // Read while the socket is down: told once it is back.
    sockets[0].drop(4000);
    client.readThread({ id: "m2", room_id: "r" }, 9);
    await vi.advanceTimersByTimeAsync(300);
    await ready(sockets[1]);
    expect(sockets[1].sent).toContainEqual({ type: "read", room_id: "r", thread_id: "m2", seq: 9 });
  });

  it("shows a refused reply as not sent, in its thread", async () => {
    const { client, sockets } = setup();
    client.connect();
    await Promise.resolve();
    await ready(sockets[0]);
    client.reply({ id: "m1", room_id: "r", seq: 1 }, "hi", { user_id: "u1", username: "ada" });
    const sent = sockets[0].sent.at(-1);
    sockets[0].push({ type: "error", id: sent.id, code: "no_thread", message: "no such message in this room to reply to" });
    expect(client.thread("m1").messages[0].failed).toBe("no such message in this room to reply to");
  });
});
