// The open room lives in the URL hash (#room=<id>): a reload or a shared link
// reopens it, and a clicked push notification opens Parley there. A hash,
// not a path, because the connector serves the client as plain files.

export function roomFromHash(hash: string): string | null {
  return new URLSearchParams(hash.replace(/^#/, "")).get("room") || null;
}

export function hashForRoom(roomId: string | null): string {
  return roomId ? "#room=" + encodeURIComponent(roomId) : "";
}
