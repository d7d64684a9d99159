import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Api, ApiError, type Room, type User } from "../lib/api";
import { ParleyClient, type ConnState, type Message } from "../lib/client";
import { browserPushEnv, disablePush, enablePush, pushEnabled } from "../lib/push";

const api = new Api();

export function App() {
  const [user, setUser] = useState<User | null>(null);
  const [booting, setBooting] = useState(true);
  useEffect(() => {
    api.onLogout = () => setUser(null);
    api.resume().then((ok) => {
      if (ok) setUser(api.user);
      setBooting(false);
    });
  }, []);
  if (booting) return <p className="p-8 text-gray-500">Loading…</p>;
  return user ? <Shell me={user} /> : <AuthScreen onIn={() => setUser(api.user)} />;
}

function AuthScreen({ onIn }: { onIn: () => void }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [login, setLogin] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      if (mode === "login") await api.login(login, password);
      else await api.register(login, email, password);
      onIn();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
    }
  };
  return (
    <main className="flex min-h-full items-center justify-center bg-gray-50 p-4 dark:bg-gray-950">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-xl bg-white p-6 shadow dark:bg-gray-900" aria-labelledby="auth-title">
        <h1 id="auth-title" className="text-2xl font-semibold text-gray-900 dark:text-gray-100">
          {mode === "login" ? "Log in to Parley" : "Create your Parley account"}
        </h1>
        <Field label={mode === "login" ? "Username or email" : "Username"} id="login" value={login} onChange={setLogin} autoComplete="username" />
        {mode === "register" && <Field label="Email" id="email" type="email" value={email} onChange={setEmail} autoComplete="email" />}
        <Field label="Password" id="password" type="password" value={password} onChange={setPassword}
          autoComplete={mode === "login" ? "current-password" : "new-password"} />
        {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
        <button type="submit" className="w-full rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-400">
          {mode === "login" ? "Log in" : "Sign up"}
        </button>
        <button type="button" onClick={() => setMode(mode === "login" ? "register" : "login")} className="w-full text-sm text-indigo-600 hover:underline dark:text-indigo-400">
          {mode === "login" ? "No account? Sign up" : "Have an account? Log in"}
        </button>
      </form>
    </main>
  );
}

function Field(p: { label: string; id: string; value: string; onChange: (v: string) => void; type?: string; autoComplete?: string }) {
  return (
    <label htmlFor={p.id} className="block text-sm text-gray-700 dark:text-gray-300">
      {p.label}
      <input id={p.id} name={p.id} type={p.type ?? "text"} value={p.value} autoComplete={p.autoComplete} required
        onChange={(e) => p.onChange(e.target.value)}
        className="mt-1 block w-full rounded-lg border border-gray-300 bg-white px-3 py-2 text-gray-900 focus:border-indigo-500 focus:outline-none dark:border-gray-700 dark:bg-gray-800 dark:text-gray-100" />
    </label>
  );
}

type Panel = { kind: "room"; id: string } | { kind: "notifications" } | { kind: "moderation" } | { kind: "directory" } | { kind: "profile" } | { kind: "none"; notice?: string };

function Shell({ me }: { me: User }) {
  const client = useMemo(() => new ParleyClient({
    url: (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws",
    getToken: () => api.token(),
  }), []);
  const [state, setState] = useState<ConnState>("connecting");
  const [rooms, setRooms] = useState<Room[]>([]);
  const [unread, setUnread] = useState<Record<string, number>>({});
  // A clicked push notification opens Parley at #room=<id>.
  const roomInHash = (): Panel => {
    const id = new URLSearchParams(location.hash.slice(1)).get("room");
    return id ? { kind: "room", id } : { kind: "none" };
  };
  const [panel, setPanel] = useState<Panel>(roomInHash);
  useEffect(() => {
    const onHash = () => { const p = roomInHash(); if (p.kind === "room") setPanel(p); };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  const [presence, setPresence] = useState<Record<string, string>>({});
  const [, setTick] = useState(0);

  const loadRooms = useCallback(async () => {
    const r = await api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms");
    setRooms(r.rooms);
    for (const room of r.rooms) client.subscribe(room.id);
    const peers = r.rooms.flatMap((room) => (room.peer ? [room.peer.id] : []));
    if (peers.length) client.write({ type: "watch", user_ids: peers });
    const u = await api.call<{ by_room: Record<string, number> }>("GET", "/api/v1/notifications/unread");
    setUnread(u.by_room ?? {});
  }, [client]);

  useEffect(() => {
    const offs = [
      client.on("state", setState),
      client.on("room", () => setTick((t) => t + 1)),
      client.on("ready", () => loadRooms()),
      client.on("notification", () => loadRooms()),
      // Rooms joined or left anywhere (an invite, a kick, another tab) show at once.
      client.on("membership", (f) => {
        if (f.state === "left") {
          const notice = f.reason === "kicked" ? "You were removed from that room." : "You left that room.";
          setPanel((p) => (p.kind === "room" && p.id === f.room_id ? { kind: "none", notice } : p));
        }
        loadRooms();
      }),
      client.on("presence", (f) => setPresence((p) => ({ ...p, [f.user_id]: f.status }))),
    ];
    client.connect();
    return () => {
      offs.forEach((off) => off());
      client.close();
    };
  }, [client, loadRooms]);

  const isMod = me.role === "moderator" || me.role === "admin";
  return (
    <div className="flex h-full bg-white text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <nav aria-label="Rooms" className="flex w-72 shrink-0 flex-col border-r border-gray-200 dark:border-gray-800 max-sm:w-56">
        <header className="flex items-center justify-between border-b border-gray-200 p-3 dark:border-gray-800">
          <span className="font-semibold">{me.display_name || me.username}</span>
          <button onClick={() => api.logout()} className="text-sm text-gray-500 hover:underline">Log out</button>
        </header>
        {state !== "open" && <p role="status" className="bg-amber-100 px-3 py-1 text-sm text-amber-900">{state === "reconnecting" ? "Reconnecting…" : "Connecting…"}</p>}
        <ul className="flex-1 overflow-y-auto p-2">
          {rooms.map((r) => (
            <li key={r.id}>
              <button onClick={() => setPanel({ kind: "room", id: r.id })} aria-current={panel.kind === "room" && panel.id === r.id}
                className="flex w-full items-center justify-between rounded-lg px-3 py-2 text-left hover:bg-gray-100 aria-[current=true]:bg-indigo-50 dark:hover:bg-gray-800 dark:aria-[current=true]:bg-indigo-950">
                <span className="flex min-w-0 items-center gap-2">
                  {r.peer && <PresenceDot status={presence[r.peer.id]} />}
                  <span className="truncate">{r.kind === "direct" ? "@ " + (r.peer?.username ?? "direct") : "# " + r.name}</span>
                </span>
                {(unread[r.id] ?? 0) > 0 && <span aria-label={`${unread[r.id]} unread`} className="rounded-full bg-indigo-600 px-2 text-xs text-white">{unread[r.id]}</span>}
              </button>
            </li>
          ))}
        </ul>
        <NewRoom onCreated={loadRooms} />
        <div className="flex flex-wrap gap-1 border-t border-gray-200 p-2 text-sm dark:border-gray-800">
          <button onClick={() => setPanel({ kind: "directory" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Find rooms &amp; people</button>
          <button onClick={() => setPanel({ kind: "notifications" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Notifications</button>
          <button onClick={() => setPanel({ kind: "profile" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Profile</button>
          {isMod && <button onClick={() => setPanel({ kind: "moderation" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Review queue</button>}
        </div>
      </nav>
      <main className="flex min-w-0 flex-1 flex-col">
        {panel.kind === "room" && <ChatView key={panel.id} room={rooms.find((r) => r.id === panel.id)} roomId={panel.id} client={client} me={me} onChanged={loadRooms} />}
        {panel.kind === "notifications" && <Notifications onOpen={(id) => setPanel({ kind: "room", id })} />}
        {panel.kind === "moderation" && <ModerationQueue />}
        {panel.kind === "directory" && <Directory onOpen={async (id) => { await loadRooms(); setPanel({ kind: "room", id }); }} />}
        {panel.kind === "profile" && <Profile me={me} />}
        {panel.kind === "none" && <p role="status" className="m-auto text-gray-500">{panel.notice ?? "Pick a room, or create one."}</p>}
      </main>
    </div>
  );
}

function PresenceDot({ status }: { status?: string }) {
  const color = status === "online" ? "bg-green-500" : status === "away" ? "bg-amber-400" : "bg-gray-400";
  return <span role="img" aria-label={status ?? "offline"} className={"inline-block h-2 w-2 shrink-0 rounded-full " + color} />;
}

function Directory({ onOpen }: { onOpen: (roomId: string) => void }) {
  const [q, setQ] = useState("");
  const [people, setPeople] = useState<User[]>([]);
  const [rooms, setRooms] = useState<Room[]>([]);
  const [error, setError] = useState("");
  useEffect(() => { api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms/public").then((r) => setRooms(r.rooms)); }, []);
  const search = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      const [u, r] = await Promise.all([
        api.call<{ users: User[] }>("GET", "/api/v1/users?prefix=" + encodeURIComponent(q)),
        api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms/public?prefix=" + encodeURIComponent(q)),
      ]);
      setPeople(u.users);
      setRooms(r.rooms);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "search failed");
    }
  };
  const dm = async (u: User) => onOpen((await api.call<Room>("POST", "/api/v1/dms", { user_id: u.id })).id);
  const join = async (r: Room) => onOpen((await api.call<Room>("POST", `/api/v1/rooms/${r.id}/join`)).id);
  return (
    <section aria-label="Find rooms and people" className="space-y-4 p-4">
      <form onSubmit={search} className="flex gap-2">
        <label htmlFor="directory-q" className="sr-only">Search</label>
        <input id="directory-q" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name starts with…" required
          className="flex-1 rounded border border-gray-300 bg-transparent px-2 py-1 dark:border-gray-700" />
        <button type="submit" className="rounded bg-gray-200 px-3 dark:bg-gray-800">Search</button>
      </form>
      {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
      <h2 className="font-semibold">People</h2>
      <ul className="space-y-1">
        {people.map((u) => (
          <li key={u.id} className="flex items-center justify-between">
            <span>{u.display_name} <span className="text-gray-500">@{u.username}</span></span>
            <button onClick={() => dm(u)} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Message</button>
          </li>
        ))}
      </ul>
      <h2 className="font-semibold">Public rooms</h2>
      <ul className="space-y-1">
        {rooms.map((r) => (
          <li key={r.id} className="flex items-center justify-between">
            <span># {r.name} <span className="text-gray-500">{r.member_count} members</span></span>
            <button onClick={() => join(r)} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Join</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Profile({ me }: { me: User }) {
  const [name, setName] = useState(me.display_name);
  const [saved, setSaved] = useState("");
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.call("PATCH", "/api/v1/me", { display_name: name });
      setSaved("Saved.");
    } catch (err) {
      setSaved(err instanceof ApiError ? err.message : "could not save");
    }
  };
  return (
    <form onSubmit={save} aria-label="Profile" className="max-w-sm space-y-3 p-4">
      <h2 className="text-lg font-semibold">Profile</h2>
      <p className="text-sm text-gray-500">@{me.username} · {me.role}</p>
      <Field label="Display name" id="display-name" value={name} onChange={setName} />
      <button type="submit" className="rounded bg-indigo-600 px-3 py-1 text-white">Save</button>
      {saved && <p role="status" className="text-sm">{saved}</p>}
    </form>
  );
}

function NewRoom({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [priv, setPriv] = useState(false);
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await api.call("POST", "/api/v1/rooms", { name, kind: priv ? "private" : "public" });
      setName("");
      setError("");
      onCreated();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "could not create the room");
    }
  };
  return (
    <form onSubmit={submit} className="space-y-1 border-t border-gray-200 p-2 dark:border-gray-800">
      <label htmlFor="new-room" className="sr-only">New room name</label>
      <input id="new-room" value={name} onChange={(e) => setName(e.target.value)} placeholder="New room name" required
        className="w-full rounded border border-gray-300 bg-transparent px-2 py-1 text-sm dark:border-gray-700" />
      <label className="flex items-center gap-1 text-xs text-gray-500"><input type="checkbox" checked={priv} onChange={(e) => setPriv(e.target.checked)} /> private</label>
      {error && <p role="alert" className="text-xs text-red-600">{error}</p>}
      <button type="submit" className="w-full rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Create room</button>
    </form>
  );
}

const urlRE = /(https?:\/\/[^\s<>"]+)/g;

/** Text with http(s) links; everything stays text, never HTML. */
function Linkified({ text }: { text: string }) {
  const parts = text.split(urlRE);
  return (
    <>
      {parts.map((p, i) =>
        i % 2 === 1 ? <a key={i} href={p} target="_blank" rel="noopener noreferrer nofollow" className="text-indigo-600 underline dark:text-indigo-400">{p}</a> : <span key={i}>{p}</span>,
      )}
    </>
  );
}

// The chat keeps every message it loaded but renders at most MAX_ROWS,
// the newest first; scrolling to the top shows more, then loads history.
const PAGE = 100;
const MAX_ROWS = 1000;

function ChatView({ room, roomId, client, me, onChanged }: { room?: Room; roomId: string; client: ParleyClient; me: User; onChanged: () => void }) {
  const log = client.room(roomId);
  const [text, setText] = useState("");
  const [typing, setTyping] = useState<Record<string, number>>({});
  const [invite, setInvite] = useState("");
  const [shown, setShown] = useState(PAGE);
  const [receipts, setReceipts] = useState<Record<string, number>>({});
  const [names, setNames] = useState<Record<string, string>>({});
  const listRef = useRef<HTMLOListElement>(null);
  const lastTyping = useRef(0);
  const stick = useRef(true);
  const messages = log.messages;
  const visible = messages.slice(Math.max(0, messages.length - Math.min(shown, MAX_ROWS)));

  useEffect(() => {
    if (messages.length === 0) client.write({ type: "history", id: client.nextId(), room_id: roomId, limit: 50 });
    const known = new Set<string>();
    const loadNames = () => api.call<{ members: { user: User }[] }>("GET", `/api/v1/rooms/${roomId}/members`).then((r) => {
      r.members.forEach((m) => known.add(m.user.id));
      setNames(Object.fromEntries(r.members.map((m) => [m.user.id, m.user.display_name || m.user.username])));
    }).catch(() => {});
    loadNames();
    const offs = [
      client.on("typing", (f) => {
        if (f.room_id === roomId && f.user_id !== me.id) setTyping((t) => ({ ...t, [f.username]: f.state === "start" ? Date.now() : 0 }));
      }),
      client.on("receipt", (f) => {
        if (f.room_id !== roomId) return;
        if (!known.has(f.user_id)) loadNames(); // someone who joined since
        setReceipts((r) => ({ ...r, [f.user_id]: Math.max(r[f.user_id] ?? 0, f.seq) }));
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
    if (stick.current) listRef.current?.lastElementChild?.scrollIntoView({ block: "end" });
  }, [messages.length, client, roomId, messages]);

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 40) {
      if (shown < messages.length && shown < MAX_ROWS) setShown((n) => n + PAGE);
      else older();
    }
  };

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    if (!text.trim()) return;
    client.send(roomId, text, { user_id: me.id, username: me.username });
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
  const older = () => {
    const first = messages.find((m) => !m.pending);
    if (first && first.seq > 1) client.write({ type: "history", id: client.nextId(), room_id: roomId, before_seq: first.seq, limit: 50 });
  };
  const leave = async () => {
    await api.call("POST", `/api/v1/rooms/${roomId}/leave`);
    onChanged();
  };
  const lastSeq = messages.findLast((m) => !m.pending)?.seq ?? 0;
  const seenBy = Object.entries(receipts).filter(([u, seq]) => u !== me.id && seq >= lastSeq && lastSeq > 0).map(([u]) => names[u] ?? "someone");
  const doInvite = async (e: FormEvent) => {
    e.preventDefault();
    const found = await api.call<{ users: User[] }>("GET", "/api/v1/users?prefix=" + encodeURIComponent(invite));
    const u = found.users.find((x) => x.username.toLowerCase() === invite.toLowerCase());
    if (u) {
      await api.call("POST", `/api/v1/rooms/${roomId}/invites`, { user_id: u.id });
      setInvite("");
      onChanged();
    }
  };
  const typers = Object.entries(typing).filter(([, at]) => Date.now() - at < 6000).map(([n]) => n);

  return (
    <section aria-label={room ? room.name : "room"} className="flex h-full flex-col">
      <header className="flex items-center justify-between border-b border-gray-200 p-3 dark:border-gray-800">
        <h2 className="font-semibold">{room?.kind === "direct" ? "@" + room.peer?.username : "# " + (room?.name ?? "")}</h2>
        {room && room.kind !== "direct" && (
          <form onSubmit={doInvite} className="flex flex-wrap gap-1">
            <label htmlFor="invite" className="sr-only">Invite by username</label>
            <input id="invite" value={invite} onChange={(e) => setInvite(e.target.value)} placeholder="Invite username"
              className="rounded border border-gray-300 bg-transparent px-2 py-1 text-sm dark:border-gray-700" />
            <button type="submit" className="rounded bg-gray-200 px-2 text-sm dark:bg-gray-800">Invite</button>
            <button type="button" onClick={leave} className="rounded px-2 text-sm text-gray-500 hover:underline">Leave</button>
          </form>
        )}
      </header>
      <button onClick={older} className="py-1 text-xs text-gray-500 hover:underline">Load older messages</button>
      <ol ref={listRef} onScroll={onScroll} aria-live="polite" aria-label="Messages" className="flex-1 space-y-1 overflow-y-auto p-3">
        {visible.map((m) => <MessageRow key={m.id} m={m} mine={m.user_id === me.id} client={client} />)}
      </ol>
      {seenBy.length > 0 && <p className="px-3 text-xs text-gray-500">Seen by {seenBy.join(", ")}</p>}
      <p className="h-5 px-3 text-xs text-gray-500" aria-live="polite">{typers.length > 0 && `${typers.join(", ")} ${typers.length > 1 ? "are" : "is"} typing…`}</p>
      <form onSubmit={send} className="flex gap-2 border-t border-gray-200 p-3 dark:border-gray-800">
        <label htmlFor="composer" className="sr-only">Message</label>
        <textarea id="composer" value={text} rows={1} maxLength={4000} onChange={(e) => onType(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } }}
          placeholder="Write a message" className="flex-1 resize-none rounded-lg border border-gray-300 bg-transparent px-3 py-2 dark:border-gray-700" />
        <button type="submit" className="rounded-lg bg-indigo-600 px-4 text-white hover:bg-indigo-500">Send</button>
      </form>
    </section>
  );
}

function MessageRow({ m, mine, client }: { m: Message; mine: boolean; client: ParleyClient }) {
  return (
    <li data-testid="message" data-seq={m.seq} className="group rounded px-2 py-1 hover:bg-gray-50 dark:hover:bg-gray-900">
      <span className="mr-2 text-sm font-semibold">{m.username}</span>
      <time className="text-xs text-gray-500" dateTime={m.created_at}>{new Date(m.created_at).toLocaleTimeString()}</time>
      {m.pending && (m.failed
        ? <span role="alert" className="ml-2 text-xs text-red-600">not sent: {m.failed}</span>
        : <span className="ml-2 text-xs text-gray-400">sending…</span>)}
      <p className="whitespace-pre-wrap break-words">
        {m.hidden ? <em className="text-gray-500">hidden by moderation</em>
          : m.deleted ? <em className="text-gray-500">message deleted</em>
          : <Linkified text={m.text} />}
        {m.edited_at && !m.deleted && !m.hidden && <span className="ml-1 text-xs text-gray-400">(edited)</span>}
      </p>
      {mine && !m.pending && !m.deleted && !m.hidden && (
        <span className="invisible space-x-2 text-xs group-hover:visible group-focus-within:visible">
          <button onClick={() => { const t = prompt("Edit message", m.text); if (t) client.write({ type: "edit", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq, text: t }); }} className="text-gray-500 hover:underline">Edit</button>
          <button onClick={() => client.write({ type: "delete", id: client.nextId(), room_id: m.room_id, message_id: m.id, seq: m.seq })} className="text-gray-500 hover:underline">Delete</button>
        </span>
      )}
    </li>
  );
}

interface Notice { id: string; kind: string; room_id?: string; from_username?: string; text?: string; read: boolean; created_at: string }

function Notifications({ onOpen }: { onOpen: (roomId: string) => void }) {
  const [items, setItems] = useState<Notice[]>([]);
  useEffect(() => { api.call<{ notifications: Notice[] }>("GET", "/api/v1/notifications").then((r) => setItems(r.notifications)); }, []);
  const open = async (n: Notice) => {
    await api.call("POST", "/api/v1/notifications/read", { ids: [n.id] });
    if (n.room_id) onOpen(n.room_id);
  };
  return (
    <section aria-label="Notifications" className="p-4">
      <h2 className="mb-3 text-lg font-semibold">Notifications</h2>
      <DevicePush />
      <ul className="space-y-2">
        {items.map((n) => (
          <li key={n.id}>
            <button onClick={() => open(n)} className={"w-full rounded-lg border p-2 text-left dark:border-gray-800 " + (n.read ? "opacity-60" : "")}>
              <span className="text-xs uppercase text-gray-500">{n.kind}</span> {n.from_username && <strong>{n.from_username}: </strong>}{n.text}
            </button>
          </li>
        ))}
        {items.length === 0 && <li className="text-gray-500">Nothing yet.</li>}
      </ul>
    </section>
  );
}

/** Lets this browser show notifications (Web Push) while you are away. */
function DevicePush() {
  const env = useMemo(() => browserPushEnv(), []);
  const [on, setOn] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => { pushEnabled(env).then(setOn, () => setOn(false)); }, [env]);
  if (!env.serviceWorker) return null;
  const toggle = async () => {
    setError("");
    try {
      if (on) await disablePush(api, env);
      else await enablePush(api, env);
      setOn(!on);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <p className="mb-3 text-sm">
      <button onClick={toggle} className="rounded border px-2 py-1 hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800">
        {on ? "Stop notifying this device" : "Notify this device while I'm away"}
      </button>
      {error && <span role="alert" className="ml-2 text-red-600">{error}</span>}
    </p>
  );
}

interface Flag { message_id: string; room_id: string; text: string; labels: string[]; scores: Record<string, number>; status: string }

function ModerationQueue() {
  const [flags, setFlags] = useState<Flag[]>([]);
  const load = () => api.call<{ flags: Flag[] }>("GET", "/api/v1/moderation/flags?status=pending").then((r) => setFlags(r.flags));
  useEffect(() => { load(); }, []);
  const decide = async (f: Flag, decision: "restore" | "confirm") => {
    await api.call("POST", `/api/v1/moderation/flags/${f.message_id}/decision`, { decision });
    load();
  };
  return (
    <section aria-label="Review queue" className="p-4">
      <h2 className="mb-3 text-lg font-semibold">Review queue</h2>
      <ul className="space-y-2">
        {flags.map((f) => (
          <li key={f.message_id} className="rounded-lg border p-3 dark:border-gray-800">
            <p className="whitespace-pre-wrap break-words">{f.text}</p>
            <p className="text-xs text-gray-500">{f.labels.join(", ")} — {Object.entries(f.scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")}</p>
            <div className="mt-2 space-x-2">
              <button onClick={() => decide(f, "restore")} className="rounded bg-gray-200 px-2 py-1 text-sm dark:bg-gray-800">Restore</button>
              <button onClick={() => decide(f, "confirm")} className="rounded bg-red-600 px-2 py-1 text-sm text-white">Keep hidden</button>
            </div>
          </li>
        ))}
        {flags.length === 0 && <li className="text-gray-500">No flagged messages.</li>}
      </ul>
    </section>
  );
}
