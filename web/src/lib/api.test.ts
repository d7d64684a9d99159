import { describe, expect, it } from "vitest";
import { Api, SESSION_HEADER, type SessionEnv, type SessionNews } from "./api";

// A browser profile: one cookie jar, one localStorage, one broadcast bus
// and one lock manager shared by its tabs; and a server that rotates the
// refresh cookie on every use and ends the session on reuse, as auth does.
function browser() {
  const server = { cookie: "", live: new Set<string>(), n: 0, calls: [] as { path: string; headers: Record<string, string>; cookie: string }[] };
  const store = new Map<string, string>();
  const tabs: { onmessage: ((e: { data: SessionNews }) => void) | null }[] = [];
  let held: Promise<unknown> = Promise.resolve();
  const json = (status: number, body?: unknown) => new Response(body === undefined ? null : JSON.stringify(body), { status });
  const tokens = () => {
    server.cookie = "rt" + ++server.n;
    server.live.add(server.cookie);
    return json(200, { access_token: "at" + server.n, expires_in: 900, user: { id: "u1", username: "ada", display_name: "", role: "user" } });
  };
  const fetch = async (path: string, init: RequestInit) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const sent = server.cookie; // the browser attaches the jar's cookie as it sends
    server.calls.push({ path, headers, cookie: sent });
    await Promise.resolve(); // the network
    switch (path) {
      case "/api/v1/auth/login":
        return tokens();
      case "/api/v1/auth/refresh": {
        if (headers[SESSION_HEADER] !== "cookie") return json(403);
        if (!server.live.delete(sent)) {
          server.live.clear(); // reuse: the family is revoked
          return json(401);
        }
        return tokens();
      }
      case "/api/v1/auth/logout":
        server.live.clear();
        server.cookie = "";
        return json(204);
      case "/api/v1/me":
        return headers.Authorization ? json(200, { id: "u1", username: "ada", display_name: "", role: "user" }) : json(401);
    }
    return json(404);
  };
  const tab = (): Api => {
    const me = { onmessage: null as ((e: { data: SessionNews }) => void) | null, postMessage: (m: SessionNews) => {
      for (const t of tabs) if (t !== me) t.onmessage?.({ data: structuredClone(m) });
    } };
    tabs.push(me);
    const env: SessionEnv = {
      fetch, channel: me,
      storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v), removeItem: (k) => void store.delete(k) },
      lock: <T,>(_: string, fn: () => Promise<T>) => {
        const run = held.then(fn, fn);
        held = run.catch(() => {});
        return run;
      },
    };
    return new Api(env);
  };
  return { server, store, tab };
}

describe("the browser session", () => {
  it("keeps no token where a script could read it: the refresh token is the server's cookie", async () => {
    const b = browser();
    const api = b.tab();
    await api.login("ada", "pw");
    expect(b.server.calls[0].headers[SESSION_HEADER]).toBe("cookie");
    expect([...b.store.values()]).toEqual(["1"]); // only the hint that a session exists
    expect(await api.token()).toBe("at1");
  });

  it("survives a reload and a new tab", async () => {
    const b = browser();
    await b.tab().login("ada", "pw");
    const reloaded = b.tab();
    expect(await reloaded.resume()).toBe(true);
    expect(reloaded.user?.username).toBe("ada");
    expect(await b.tab().resume()).toBe(true); // a further tab, after the cookie rotated
  });

  it("does not try without a session, and forgets one the server refuses", async () => {
    const b = browser();
    expect(await b.tab().resume()).toBe(false);
    expect(b.server.calls).toHaveLength(0);
    await b.tab().login("ada", "pw");
    b.server.live.clear(); // revoked elsewhere (a password change)
    let out = 0;
    const t = b.tab();
    t.onLogout = () => out++;
    expect(await t.resume()).toBe(false);
    expect(out).toBe(1);
    expect(b.store.size).toBe(0);
  });

  it("refreshes in one tab at a time, so a rotation never looks like theft", async () => {
    const b = browser();
    await b.tab().login("ada", "pw");
    const [x, y] = [b.tab(), b.tab()];
    const ok = await Promise.all([x.resume(), y.resume()]);
    expect(ok).toEqual([true, true]);
    expect(b.server.live.size).toBe(1);
  });

  it("logs every tab out with one, and tells signed-out tabs of a login", async () => {
    const b = browser();
    const [x, y] = [b.tab(), b.tab()];
    let yIn = 0, yOut = 0;
    y.onLogin = () => yIn++;
    y.onLogout = () => yOut++;
    await x.login("ada", "pw");
    expect(yIn).toBe(1);
    expect(await y.resume()).toBe(true);
    x.logout();
    expect(yOut).toBe(1);
    expect(y.user).toBeNull();
    await Promise.resolve();
    expect(b.server.calls.at(-1)).toMatchObject({ path: "/api/v1/auth/logout", headers: { [SESSION_HEADER]: "cookie" } });
    expect(await b.tab().resume()).toBe(false);
  });
});
