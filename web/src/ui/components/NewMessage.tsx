import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { MAX_OTHERS, openConversation, parseRecipients } from "../../lib/dms";
import { api } from "../session";

/**
 * "New message": a modal asking for the people (1 for a 1:1 conversation,
 * up to MAX_OTHERS for a group). The native <dialog> traps focus and
 * closes on Escape; focus returns to the button that opened it.
 */
export function NewMessage({ me, onOpened }: { me: string; onOpened: (roomId: string) => void }) {
  const [open, setOpen] = useState(false);
  const [to, setTo] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (open && d && !d.open) d.showModal();
  }, [open]);
  const close = () => {
    ref.current?.close();
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseRecipients(to, me);
    if ("error" in parsed) {
      setError(parsed.error);
      return;
    }
    setBusy(true);
    try {
      const room = await openConversation(api, parsed.names);
      setTo("");
      setError("");
      close();
      onOpened(room.id);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "could not start the conversation");
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button ref={opener} type="button" onClick={() => setOpen(true)} data-testid="new-message"
        className="mx-2 mt-2 rounded bg-indigo-600 px-2 py-1 text-sm text-white hover:bg-indigo-500">New message</button>
      {open && (
        <dialog ref={ref} aria-labelledby="new-message-title" onClose={() => { setOpen(false); setError(""); opener.current?.focus(); }}
          className="m-auto w-[calc(100%-2rem)] max-w-sm rounded-xl bg-white p-4 text-gray-900 shadow-xl backdrop:bg-black/40 dark:bg-gray-900 dark:text-gray-100">
          <form onSubmit={submit} className="space-y-2">
            <h2 id="new-message-title" className="text-lg font-semibold">New message</h2>
            <label htmlFor="new-message-to" className="block text-sm">To: usernames, separated by commas (up to {MAX_OTHERS})</label>
            <input id="new-message-to" autoFocus value={to} onChange={(e) => { setTo(e.target.value); setError(""); }} placeholder="ann, bob"
              aria-invalid={!!error} aria-describedby={error ? "new-message-error" : undefined} autoComplete="off"
              className="w-full rounded border border-gray-300 bg-transparent px-2 py-1 dark:border-gray-700" />
            {error && <p id="new-message-error" role="alert" className="text-sm text-red-600">{error}</p>}
            <div className="flex justify-end gap-2 pt-2">
              <button type="button" onClick={close} className="rounded-lg bg-gray-200 px-3 py-1 dark:bg-gray-800">Cancel</button>
              <button type="submit" disabled={busy} className="rounded-lg bg-indigo-600 px-3 py-1 text-white">Start conversation</button>
            </div>
          </form>
        </dialog>
      )}
    </>
  );
}
