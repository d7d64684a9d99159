import { describe, expect, it } from "vitest";
import { checkFile, MaxImageBytes, uploadFile, type FileEnv, type Upload } from "./files";

describe("files", () => {
  it("says why a file cannot be sent before uploading it", () => {
    expect(checkFile({ name: "a.png", size: MaxImageBytes + 1, type: "image/png" })).toContain("images may be at most 10.0 MB");
    expect(checkFile({ name: "a.zip", size: 30 << 20, type: "application/zip" })).toContain("files may be at most 25.0 MB");
    expect(checkFile({ name: "a.txt", size: 0, type: "text/plain" })).toContain("empty");
    expect(checkFile({ name: "a.png", size: 100, type: "image/png" })).toBe("");
  });

  it("asks for an upload URL, PUTs the bytes there and returns the attachment", async () => {
    const calls: unknown[] = [];
    const put: { u?: Upload; progress: number[] } = { progress: [] };
    const env: FileEnv = {
      call: async <T,>(method: string, path: string, body?: unknown) => {
        calls.push([method, path, body]);
        return { id: "f1", url: "http://s3/x", method: "PUT", headers: { "Content-Type": "text/plain" }, expires_at: "" } as T;
      },
      put: async (u, _file, onProgress) => { put.u = u; onProgress(0.5); onProgress(1); },
    };
    const file = new File(["hello"], "notes.txt", { type: "text/plain" });
    const a = await uploadFile(env, "r1", file, (p) => put.progress.push(p));
    expect(calls).toEqual([["POST", "/api/v1/rooms/r1/uploads", { name: "notes.txt", size: 5, content_type: "text/plain" }]]);
    expect(put.u?.url).toBe("http://s3/x");
    expect(put.progress).toEqual([0.5, 1]);
    expect(a).toEqual({ id: "f1", name: "notes.txt", size: 5, content_type: "text/plain" });
  });
});
