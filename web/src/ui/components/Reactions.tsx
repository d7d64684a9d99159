import { useEffect, useRef, useState } from "react";
import type { Message, ParleyClient } from "../../lib/client";
import { PICKER, whoReacted } from "../../lib/reactions";

const chip = "inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs pointer-coarse:py-1.5 ";

/**
 * The reactions under a message: one button per emoji with its count,
 * pressed when you reacted (clicking toggles yours), with who reacted in
 * its tooltip and accessible name. Nothing when there are none, so a
 * message without reactions takes no more room than before.
 */
export function ReactionBar({ m, myId, names, client }: { m: Message; myId: string; names: Record<string, string>; client: ParleyClient }) {
  if (!m.reactions?.length) return null;
  return (
    <div data-testid="reactions" className="mt-1 flex flex-wrap items-center gap-1">
      {m.reactions.map((r) => {
        const mine = r.user_ids.includes(myId);
        const who = whoReacted(r.user_ids, myId, names);
        return (
          <button key={r.emoji} type="button" data-testid="reaction" data-emoji={r.emoji} aria-pressed={mine} title={`${who} reacted with ${r.emoji}`}
            aria-label={`${r.emoji} ${r.user_ids.length}: ${who}`} onClick={() => client.toggleReaction(m.room_id, m.id, r.emoji)}
            className={chip + (mine
              ? "border-indigo-500 bg-indigo-50 text-indigo-900 dark:border-indigo-400 dark:bg-indigo-950 dark:text-indigo-100"
              : "border-gray-300 text-gray-700 hover:bg-gray-100 dark:border-gray-700 dark:text-gray-300 dark:hover:bg-gray-800")}>
            <span aria-hidden="true">{r.emoji}</span><span data-testid="reaction-count">{r.user_ids.length}</span>
          </button>
        );
      })}
    </div>
  );
}

/**
 * The React button (add a reaction), among a message's actions, and the
 * small picker it opens. The picker takes the focus; Escape closes it and
 * gives the focus back to the button, as picking does; a click elsewhere or
 * the focus moving on closes it too.
 */
export function ReactionPicker({ m, client }: { m: Message; client: ParleyClient }) {
  const [picking, setPicking] = useState(false);
  const addRef = useRef<HTMLButtonElement>(null);
  const pickerRef = useRef<HTMLDivElement>(null);
  const wrapRef = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    if (!picking) return;
    pickerRef.current?.querySelector("button")?.focus();
    const outside = (e: PointerEvent) => { if (!wrapRef.current?.contains(e.target as Node)) setPicking(false); };
    document.addEventListener("pointerdown", outside);
    return () => document.removeEventListener("pointerdown", outside);
  }, [picking]);
  const close = () => {
    setPicking(false);
    requestAnimationFrame(() => addRef.current?.focus());
  };
  return (
    // On a touch screen it shows once the message is tapped (focused), not
    // on every message at once.
    <span ref={wrapRef} className="relative pointer-coarse:invisible pointer-coarse:group-focus-within:visible"
      // Only a focus that moved somewhere (Tab): a click on a button that
      // does not take focus (Safari) leaves none, and must still land.
      onBlur={(e) => { if (picking && e.relatedTarget && !e.currentTarget.contains(e.relatedTarget as Node)) setPicking(false); }}>
      <button ref={addRef} type="button" aria-label={`React to: ${m.text.slice(0, 40)}`} aria-expanded={picking}
        onClick={() => setPicking(!picking)}
        className="rounded px-2 text-gray-600 hover:underline pointer-coarse:py-1.5 dark:text-gray-400">React</button>
      {picking && (
        <div ref={pickerRef} role="group" aria-label="Pick a reaction"
          onKeyDown={(e) => { if (e.key === "Escape") { e.preventDefault(); close(); } }}
          className="absolute right-0 bottom-full z-10 mb-1 flex gap-0.5 rounded-lg border border-gray-300 bg-white p-1 shadow-lg dark:border-gray-700 dark:bg-gray-900">
          {PICKER.map((p) => (
            <button key={p.emoji} type="button" aria-label={`React with ${p.name}`} title={p.name}
              onClick={() => { client.toggleReaction(m.room_id, m.id, p.emoji); close(); }}
              className="rounded px-1.5 py-0.5 text-lg hover:bg-gray-100 focus:bg-gray-100 dark:hover:bg-gray-800 dark:focus:bg-gray-800">
              <span aria-hidden="true">{p.emoji}</span>
            </button>
          ))}
        </div>
      )}
    </span>
  );
}
