import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Room, User } from "../../lib/api";
import { ParleyClient, type ConnState } from "../../lib/client";
import { hashForRoom, roomFromHash } from "../../lib/route";
import { api } from "../session";
import { BackButton } from "../components/BackButton";
import { PresenceDot } from "../components/PresenceDot";
import { NewRoom } from "../components/NewRoom";
import { ConnectionBanner } from "../components/ConnectionBanner";
import { ChatView } from "./ChatView";
import { Directory } from "./Directory";
import { ModerationQueue } from "./ModerationQueue";
import { Notifications } from "./Notifications";
import { Profile } from "./Profile";

type Panel = { kind: "room"; id: string } | { kind: "notifications" } | { kind: "moderation" } | { kind: "directory" } | { kind: "profile" } | { kind: "none"; notice?: string };

export function Shell({ me }: { me: User }) {
  const client = useMemo(() => new ParleyClient({
    url: (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws",
    getToken: () => api.token(),
  }), []);
  const [state, setState] = useState<ConnState>("connecting");
  const [rooms, setRooms] = useState<Room[]>([]);
  const [unread, setUnread] = useState<Record<string, number>>({});
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
    const unwatch = client.watchNetwork(window, document);
    return () => {
      unwatch();
      offs.forEach((off) => off());
      client.close();
    };
  }, [client, loadRooms]);

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
          <button onClick={() => api.logout()} className="text-sm text-gray-600 hover:underline dark:text-gray-400">Log out</button>
        </header>
        {panel.kind === "none" && panel.notice && <p role="status" className="bg-gray-100 px-3 py-1 text-sm md:hidden dark:bg-gray-900">{panel.notice}</p>}
        <ul className="flex-1 overflow-y-auto p-2">
          {rooms.map((r) => (
            <li key={r.id}>
              <button data-room={r.id} onClick={() => setPanel({ kind: "room", id: r.id })} aria-current={panel.kind === "room" && panel.id === r.id}
                className="flex w-full items-center justify-between rounded-lg px-3 py-2 text-left hover:bg-gray-100 aria-[current=true]:bg-indigo-50 dark:hover:bg-gray-800 dark:aria-[current=true]:bg-indigo-950">
                <span className="flex min-w-0 items-center gap-2">
                  {r.peer && <PresenceDot status={presence[r.peer.id]} />}
                  <span className="truncate">{r.kind === "direct" ? "@ " + (r.peer?.username ?? "direct") : "# " + r.name}</span>
                </span>
                {(unread[r.id] ?? 0) > 0 && <span aria-label={`${unread[r.id]} unread`} className="rounded-full bg-indigo-600 px-2 text-xs text-white">{unread[r.id]}</span>}
              </button>
            </li>
          ))}
          {rooms.length === 0 && <li className="p-3 text-sm text-gray-500">No rooms yet. Create one below, or find one to join.</li>}
        </ul>
        <NewRoom onCreated={loadRooms} />
        <div className="flex flex-wrap gap-1 border-t border-gray-200 p-2 text-sm dark:border-gray-800">
          <button onClick={() => setPanel({ kind: "directory" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Find rooms &amp; people</button>
          <button onClick={() => setPanel({ kind: "notifications" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Notifications</button>
          <button onClick={() => setPanel({ kind: "profile" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Profile</button>
          {isMod && <button onClick={() => setPanel({ kind: "moderation" })} className="rounded px-2 py-1 hover:bg-gray-100 dark:hover:bg-gray-800">Review queue</button>}
        </div>
      </nav>
      <main ref={mainRef} className={"flex min-w-0 flex-1 flex-col " + (open ? "" : "max-md:hidden")}>
        {open && panel.kind !== "room" && <div className="border-b border-gray-200 p-2 md:hidden dark:border-gray-800"><BackButton onBack={back} /></div>}
        {panel.kind === "room" && <ChatView key={panel.id} room={rooms.find((r) => r.id === panel.id)} roomId={panel.id} client={client} me={me} onChanged={loadRooms} onBack={back} />}
        {panel.kind === "notifications" && <Notifications onOpen={(id) => setPanel({ kind: "room", id })} />}
        {panel.kind === "moderation" && <ModerationQueue />}
        {panel.kind === "directory" && <Directory onOpen={async (id) => { await loadRooms(); setPanel({ kind: "room", id }); }} />}
        {panel.kind === "profile" && <Profile me={me} />}
        {panel.kind === "none" && <p role="status" className="m-auto text-gray-500">{panel.notice ?? "Pick a room, or create one."}</p>}
      </main>
    </div>
  );
}
