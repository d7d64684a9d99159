// Files: an upload goes from the browser straight to the S3 store with a
// presigned URL the connector hands out (POST /api/v1/rooms/{room}/uploads),
// then a send frame attaches it by id. Downloads and thumbnails are
// short-lived URLs asked for with the access token (an <img> or a link
// cannot send one), never the token in a URL. See connector/PROTOCOL.md.

import type { Attachment } from "./contract.gen";

/** The limits the connector enforces (eventsv1 files.go); checked here first for a quick, clear message. */
export const MaxFileBytes = 25 << 20;
export const MaxImageBytes = 10 << 20;
export const MaxAttachments = 4;
export const ImageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

export interface Upload {
  id: string;
  url: string;
  method: string;
  headers: Record<string, string>;
  expires_at: string;
}

/** What uploading needs: the REST call (Api.call) and a way to PUT with progress (tests pass fakes). */
export interface FileEnv {
  call: <T>(method: string, path: string, body?: unknown) => Promise<T>;
  put: (u: Upload, file: Blob, onProgress: (fraction: number) => void) => Promise<void>;
}

export const isImage = (contentType: string) => ImageTypes.includes(contentType);

/** Says why a file cannot be sent, before anything is uploaded; "" when it can. */
export function checkFile(f: { name: string; size: number; type: string }): string {
  if (f.size === 0) return `${f.name} is empty`;
  const limit = isImage(f.type) ? MaxImageBytes : MaxFileBytes;
  if (f.size > limit) return `${f.name} is ${mb(f.size)}; ${isImage(f.type) ? "images" : "files"} may be at most ${mb(limit)}`;
  return "";
}

export function mb(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.ceil(n / 1024))} KB`;
}

/** Uploads one file to a room; resolves with its attachment once the store has it. */
export async function uploadFile(env: FileEnv, roomId: string, file: File, onProgress: (fraction: number) => void): Promise<Attachment> {
  const contentType = file.type || "application/octet-stream";
  const up = await env.call<Upload>("POST", `/api/v1/rooms/${roomId}/uploads`, { name: file.name, size: file.size, content_type: contentType });
  await env.put(up, file, onProgress);
  return { id: up.id, name: file.name, size: file.size, content_type: contentType };
}

/** PUTs with XMLHttpRequest, which reports upload progress (fetch does not). */
export function browserPut(u: Upload, file: Blob, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(u.method, u.url);
    for (const [k, v] of Object.entries(u.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`the file store refused the upload (${xhr.status})`)));
    xhr.onerror = () => reject(new Error("the upload failed: check your connection"));
    xhr.send(file);
  });
}

/** A short-lived URL of a room's file, or of an image's thumbnail. */
export async function fileUrl(call: FileEnv["call"], roomId: string, fileId: string, thumbnail = false): Promise<string> {
  const r = await call<{ url: string }>("GET", `/api/v1/rooms/${roomId}/files/${fileId}${thumbnail ? "?thumbnail=1" : ""}`);
  return r.url;
}
