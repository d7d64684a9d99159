import { useEffect, useState } from "react";
import type { Attachment } from "../../lib/contract.gen";
import { fileUrl, isImage, mb } from "../../lib/files";
import { api } from "../session";

/** A message's files: images inline by their thumbnail, other files as a download chip. */
export function Attachments({ roomId, files, pending }: { roomId: string; files: Attachment[]; pending?: boolean }) {
  return (
    <ul className="mt-1 flex flex-wrap gap-2" aria-label="Files">
      {files.map((f) => (
        <li key={f.id} data-testid="attachment" data-file-id={f.id} className="max-w-full">
          {isImage(f.content_type) && f.thumbnail && !pending
            ? <Thumbnail roomId={roomId} file={f} />
            : <FileChip roomId={roomId} file={f} pending={pending} />}
        </li>
      ))}
    </ul>
  );
}

/** Opens a file in a new tab from a fresh short-lived URL (images show, other files download). */
async function open(roomId: string, id: string) {
  const tab = window.open("", "_blank", "noopener");
  const url = await fileUrl(api.call.bind(api), roomId, id);
  if (tab) tab.location.href = url;
  else window.location.href = url;
}

function Thumbnail({ roomId, file }: { roomId: string; file: Attachment }) {
  const [src, setSrc] = useState<string>();
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    fileUrl(api.call.bind(api), roomId, file.id, true).then((u) => live && setSrc(u)).catch(() => live && setFailed(true));
    return () => { live = false; };
  }, [roomId, file.id]);
  const t = file.thumbnail!;
  if (failed) return <FileChip roomId={roomId} file={file} />;
  return (
    <button type="button" onClick={() => open(roomId, file.id)}
      className="block max-w-full overflow-hidden rounded-lg border border-gray-200 dark:border-gray-800">
      <span className="sr-only">Open image </span>
      {src
        ? <img data-testid="thumbnail" src={src} alt={file.name} width={t.width} height={t.height} className="block h-auto max-w-full" />
        : <span className="block bg-gray-100 dark:bg-gray-800" style={{ width: t.width, height: t.height, maxWidth: "100%" }}>
          <span className="sr-only">{file.name}</span></span>}
    </button>
  );
}

function FileChip({ roomId, file, pending }: { roomId: string; file: Attachment; pending?: boolean }) {
  return (
    <button type="button" data-testid="file-chip" disabled={pending} onClick={() => open(roomId, file.id)}
      className="flex max-w-full items-center gap-2 rounded-lg border border-gray-300 px-3 py-1.5 text-sm hover:bg-gray-100 disabled:opacity-60 dark:border-gray-700 dark:hover:bg-gray-800">
      <FileIcon />
      <span className="sr-only">{isImage(file.content_type) ? "Open image " : "Download "}</span>
      <span className="truncate">{file.name}</span>
      <span className="shrink-0 text-xs text-gray-600 dark:text-gray-400">{mb(file.size)}</span>
    </button>
  );
}

/** A document outline: drawn, not an emoji, so it shows without an emoji font. */
export function FileIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 16 16" className="h-4 w-4 shrink-0 fill-none stroke-current" strokeWidth={1.5}>
      <path d="M4 1.5h5l3.5 3.5v9.5h-8.5z M9 1.5v3.5h3.5" strokeLinejoin="round" />
    </svg>
  );
}

/** A paperclip, for the composer's attach button. */
export function ClipIcon() {
  return (
    <svg aria-hidden="true" viewBox="0 0 16 16" className="h-4 w-4 fill-none stroke-current" strokeWidth={1.5}>
      <path d="M10.5 4.5 5.6 9.4a1.4 1.4 0 0 0 2 2l5.2-5.2a2.8 2.8 0 0 0-4-4L3.6 7.4a4.2 4.2 0 0 0 6 6l4-4" strokeLinecap="round" />
    </svg>
  );
}
