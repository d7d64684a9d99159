import { useEffect, useId, useRef } from "react";

/**
 * A modal question. The native <dialog> traps focus, starts on the safe
 * answer (Cancel) and closes on Escape; onClose runs however it closes.
 */
export function ConfirmDialog(p: { title: string; body: string; confirm: string; onConfirm: () => void; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current!;
    d.showModal();
    return () => d.close();
  }, []);
  return (
    // StrictMode mounts twice: the first close's event arrives once the dialog is open again.
    <dialog ref={ref} aria-labelledby={id + "-t"} aria-describedby={id + "-b"} onClose={() => { if (!ref.current?.open) p.onClose(); }}
      className="m-auto w-[calc(100%-2rem)] max-w-sm rounded-xl bg-white p-4 text-gray-900 shadow-xl backdrop:bg-black/40 dark:bg-gray-900 dark:text-gray-100">
      <h2 id={id + "-t"} className="text-lg font-semibold">{p.title}</h2>
      <p id={id + "-b"} className="mt-1 text-sm text-gray-600 dark:text-gray-300">{p.body}</p>
      <div className="mt-4 flex justify-end gap-2">
        <button type="button" autoFocus onClick={() => ref.current?.close()} className="rounded-lg bg-gray-200 px-3 py-1 dark:bg-gray-800">Cancel</button>
        <button type="button" onClick={() => { p.onConfirm(); ref.current?.close(); }} className="rounded-lg bg-red-600 px-3 py-1 text-white">{p.confirm}</button>
      </div>
    </dialog>
  );
}
