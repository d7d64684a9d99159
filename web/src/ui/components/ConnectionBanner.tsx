import { useEffect, useState } from "react";
import type { ConnState, ParleyClient } from "../../lib/client";

/**
 * The connection's state while it is not open, floating over the top of
 * the page so it shows on every pane (on a phone the room list is hidden
 * inside a room), with a button that reconnects at once.
 */
export function ConnectionBanner({ client, state }: { client: ParleyClient; state: ConnState }) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (state !== "reconnecting") return;
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [state]);
  if (state === "open" || state === "closed") return null;
  const secs = Math.ceil((client.retryAt - Date.now()) / 1000);
  return (
    <div data-testid="connection" className="fixed top-2 left-1/2 z-20 flex -translate-x-1/2 items-center gap-2 rounded-full bg-amber-100 px-3 py-1 text-sm text-amber-950 shadow-lg">
      <p role="status">{state === "reconnecting" ? "Reconnecting…" : "Connecting…"}</p>
      {state === "reconnecting" && secs > 0 && <span aria-hidden="true" className="text-xs">next try in {secs} s</span>}
      {state === "reconnecting" && (
        <button type="button" onClick={() => client.retryNow()} className="rounded-full bg-amber-900 px-2 py-0.5 text-xs font-semibold text-white hover:bg-amber-800">
          Retry now
        </button>
      )}
    </div>
  );
}
