import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Room, User } from "../../lib/api";
import { ParleyClient, type ConnState } from "../../lib/client";
import { hashForRoom, roomFromHash } from "../../lib/route";
import { badgeText, UnreadCounts, type Counts } from "../../lib/unread";
import { api } from "../session";
import { BackButton } from "../components/BackButton";
import { PresenceDot } from "../components/PresenceDot";
import { NewRoom } from "../components/NewRoom";
import { NewMessage } from "../components/NewMessage";
import { isConversation, listTitle } from "../../lib/dms";
import { ConnectionBanner } from "../components/ConnectionBanner";
import { ChatView } from "./ChatView";
import { Directory } from "./Directory";
import { ModerationQueue } from "./ModerationQueue";
import { Notifications, type Notice } from "./Notifications";
import { Profile } from "./Profile";
import { Search } from "./Search";

type Panel = { kind: "room"; id: string; thread?: string } | { kind: "notifications" } | { kind: "moderation" } | { kind: "directory" } | { kind: "profile" } | { kind: "search" } | { kind: "none"; notice?: string };

export function Shell({ me }: { me: User }) {
  const client = useMemo(() => new ParleyClient({
    url: (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws",
    getToken: () => api.token(),
  }), []);
  const [state, setState] = useState<ConnState>("connecting");
  const [rooms, setRooms] = useState<Room[]>([]);
  const unread = useMemo(() => new UnreadCounts(me.id), [me.id]);
  // Unread notifications by id, so one both fetched and pushed live counts once.
  const [bell, setBell] = useState<ReadonlySet<string>>(new Set());
  const roomInHash = (): Panel => {
    const id = roomFromHash(location.hash);
    return id ? { kind: "room", id } : { kind: "none" };
  };
  const [panel, setPanel] = useState<Panel>(roomInHash);
  useEffect(() => {
    const onHash = () => { const p = roomInHash(); if (p.kind === "room") setPanel(p); };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  const navRef = useRef<HTMLElement>(null);
  const mainRef = useRef<HTMLElement>(null);
  const lastRoom = useRef("");
  const firstPanel = useRef(true);
  const panelKey = panel.kind === "room" ? "room:" + panel.id : panel.kind;
  // The hash follows the open room (replaceState: no history entry per
  // room, no hashchange), and focus follows the pane a person opened: the
  // composer on a wide screen; the heading on a phone, where focusing a text
  // field would pop up the keyboard; back to the room's entry in the list.
  useEffect(() => {
    history.replaceState(history.state, "", location.pathname + location.search + hashForRoom(panel.kind === "room" ? panel.id : null));
    const first = firstPanel.current;
    firstPanel.current = false;
    if (panel.kind === "room") lastRoom.current = panel.id;
    if (panel.kind === "none") {
      if (!first) navRef.current?.querySelector<HTMLElement>(`[data-room="${CSS.escape(lastRoom.current)}"]`)?.focus();
      return;
    }
    const wide = matchMedia("(min-width: 48rem)").matches;
    const main = mainRef.current;
    ((wide && main?.querySelector<HTMLElement>("[data-autofocus]")) || main?.querySelector<HTMLElement>("h2"))?.focus();
  }, [panelKey]);
  const back = () => setPanel({ kind: "none" });
  const [presence, setPresence] = useState<Record<string, string>>({});
  const [, setTick] = useState(0);

  const loadRooms = useCallback(async () => {
    const r = await api.call<{ rooms: Room[] }>("GET", "/api/v1/rooms");
    setRooms(r.rooms);
    for (const room of r.rooms) client.subscribe(room.id);
    const peers = r.rooms.flatMap((room) => (room.peer ? [room.peer.id] : []));
    if (peers.length) client.write({ type: "watch", user_ids: peers });
  }, [client]);
  const loadBell = useCallback(async () => {
    const r = await api.call<{ notifications: Notice[] }>("GET", "/api/v1/notifications?unread=true");
    setBell(new Set(r.notifications.map((n) => n.id)));
  }, []);

  useEffect(() => {
    const offs = [
      client.on("state", setState),
      client.on("room", () => setTick((t) => t + 1)),
      client.on("ready", () => { loadRooms(); loadBell(); }),
      client.on("subscribed", (f) => { if (f.unread) { unread.set(f.room_id, f.unread as Counts); setTick((t) => t + 1); } }),
      client.on("unread", (f) => {
        const mentions = unread.badge(f.room_id).mentions;
        unread.set(f.room_id, f.unread as Counts);
        // Mentions read in the room are read behind the bell too (the server marked them first).
        if (unread.badge(f.room_id).mentions < mentions) loadBell();
        setTick((t) => t + 1);
      }),
      client.on("message", (m) => { if (unread.message(m)) setTick((t) => t + 1); }),
      client.on("notification", (f) => {
        const n = f.notification as Notice;
        if (!n.read) setBell((b) => new Set(b).add(n.id));
        if (n.room_id && n.seq && unread.mention(n.room_id, n.seq)) setTick((t) => t + 1);
      }),
      // Rooms joined or left anywhere (an invite, a kick, another tab) show at once.
      client.on("membership", (f) => {
        if (f.state === "left") {
          unread.forget(f.room_id);
          const notice = f.reason === "kicked" ? "You were removed from that room." : "You left that room.";
          setPanel((p) => (p.kind === "room" && p.id === f.room_id ? { kind: "none", notice } : p));
        }
        loadRooms();
      }),
      client.on("presence", (f) => setPresence((p) => ({ ...p, [f.user_id]: f.status }))),
    ];
    client.connect();
    const unwatch = client.watchNetwork(window, document);
    return () => {
      unwatch();
      offs.forEach((off) => off());
      client.close();
    };
  }, [client, loadRooms, loadBell, unread]);
  // Notifications seen in another tab: the bell catches up when this one is looked at again.
  useEffect(() => {
    const onVisible = () => { if (document.visibilityState === "visible") loadBell(); };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [loadBell]);

  const isMod = me.role === "moderator" || me.role === "admin";
  // Phone width shows one pane at a time: the room list until something
  // is opened, then that with a back button. From md up, both side by side.
  const open = panel.kind !== "none";
  return (
    <div className="flex h-full bg-white text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <header className="sr-only"><h1>Parley</h1></header>
      <ConnectionBanner client={client} state={state} />
      <nav ref={navRef} aria-label="Rooms" className={"flex w-full shrink-0 flex-col border-gray-200 md:w-72 md:border-r dark:border-gray-800 " + (open ? "max-md:hidden" : "")}>
        <header className="flex items-center justify-between border-b border-gray-200 p-3 dark:border-gray-800">
          <span className="min-w-0 truncate font-semibold">{me.display_name || me.username}</span>
          <span className="flex shrink-0 items-center gap-2">
            <button onClick={() => setPanel({ kind: "notifications" })} aria-current={panel.kind === "notifications"} data-testid="bell"
              aria-label={bell.size ? `Notifications, ${bell.size} unread` : "Notifications"}
              className="relative rounded p-1 text-gray-700 hover:bg-gray-100 aria-[current=true]:bg-indigo-50 dark:text-gray-300 dark:hover:bg-gray-800 dark:aria-[current=true]:bg-indigo-950">
              <svg aria-hidden="true" viewBox="0 0 24 24" className="h-5 w-5" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
                <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.7 21a2 2 0 0 1-3.4 0" />
              </svg>
              {bell.size > 0 && <span aria-hidden="true" className="absolute -right-1 -top-1 min-w-4 rounded-full bg-red-600 px-1 text-center text-[0.65rem] leading-4 text-white">{bell.size > 50 ? "50+" : bell.size}</span>}
            </button>
            <button onClick={() => api.logout()} className="text-sm text-gray-600 hover:underline dark:text-gray-400">Log out</button>
          </span>
        </header>
        {panel.kind === "none" && panel.notice && <p role="status" className="bg-gray-100 px-3 py-1 text-sm md:hidden dark:bg-gray-900">{panel.notice}</p>}
        <NewMessage me={me.username} onOpened={async (id) => { await loadRooms(); setPanel({ kind: "room", id }); }} />
        <ul className="flex-1 overflow-y-auto p-2">
          {rooms.map((r) => {
            // The open room is being read: its read frame clears the count a moment later.
            const badge = panel.kind === "room" && panel.id === r.id ? { text: "", label: "", urgent: false } : badgeText(unread.badge(r.id), isConversation(r));
            return (
            <li key={r.id}>
              <button data-room={r.id} onClick={() => setPanel({ kind: "room", id: r.id })} aria-current={panel.kind === "room" && panel.id === r.id}
                className="flex w-full items-center justify-between rounded-lg px-3 py-2 text-left hover:bg-gray-100 aria-[current=true]:bg-indigo-50 dark:hover:bg-gray-800 dark:aria-[current=true]:bg-indigo-950">
                <span className="flex min-w-0 items-center gap-2">
                  {r.peer && <PresenceDot status={presence[r.peer.id]} />}
                  <span className={"truncate " + (badge.text ? "font-semibold" : "")}>{listTitle(r)}</span>
                </span>
                {badge.text && <span data-testid="unread" className={"shrink-0 rounded-full px-2 text-xs text-white " + (badge.urgent ? "bg-red-600" : "bg-indigo-600")}>
                  <span aria-hidden="true">{badge.text}</span><span className="sr-only">{badge.label}</span>
                </span>}
              </button>
            </li>
            );
          })}
          {rooms.length === 0 && <li className="p-3 text-sm text-gray-500">No rooms yet. Create one below, or find one to join.</li>}
        </ul>
        <NewRoom onCreated={loadRooms} />
        <div className="flex flex-wrap gap-1 border-t border-gray-200 p-2 text-sm dark:border-gray-800">
          <button onClick={() => setPanel({ kind: "directory" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Find rooms &amp; people</button>
          <button onClick={() => setPanel({ kind: "search" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Search messages</button>
          <button onClick={() => setPanel({ kind: "notifications" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Notifications</button>
          <button onClick={() => setPanel({ kind: "profile" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Profile</button>
          {isMod && <button onClick={() => setPanel({ kind: "moderation" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Review queue</button>}
        </div>
      </nav>
      <main ref={mainRef} className={"flex min-w-0 flex-1 flex-col " + (open ? "" : "max-md:hidden")}>
        {open && panel.kind !== "room" && <div className="border-b border-gray-200 p-2 md:hidden dark:border-gray-800"><BackButton onBack={back} /></div>}
        {panel.kind === "room" && <ChatView key={panel.id} room={rooms.find((r) => r.id === panel.id)} roomId={panel.id} client={client} me={me} onChanged={loadRooms} onBack={back} thread={panel.thread} />}
        {panel.kind === "notifications" && <Notifications onOpen={(id, thread) => setPanel({ kind: "room", id, thread })} onSeen={() => setBell(new Set())} />}
        {panel.kind === "moderation" && <ModerationQueue />}
        {panel.kind === "directory" && <Directory onOpen={async (id) => { await loadRooms(); setPanel({ kind: "room", id }); }} />}
        {panel.kind === "profile" && <Profile me={me} />}
        {panel.kind === "search" && <Search rooms={rooms} onOpen={(id) => setPanel({ kind: "room", id })} />}
        {panel.kind === "none" && <p role="status" className="m-auto text-gray-500">{panel.notice ?? "Pick a room, or create one."}</p>}
      </main>
    </div>
  );
}
