// REST client for the connector's API, with silent token refresh.
//
// Where the tokens live (README, "Sessions in the browser"): the access
// token (15 minutes) only in this page's memory; the refresh token in an
// HttpOnly cookie the server sets, which no script can read, sent only to
// the auth endpoints and only from this origin. Requests that set or use it
// carry SessionHeader, which the server requires against forged requests.
// Open tabs tell each other of logins and logouts on a BroadcastChannel,
// and take turns refreshing (a Web Lock): the refresh token rotates on
// every use, so two tabs presenting the same one at once would look like a
// stolen token, and the server would end the session.

export interface User {
  id: string;
  username: string;
  display_name: string;
  role: string;
  email?: string;
}

export interface Room {
  id: string;
  name: string;
  topic: string;
  kind: "public" | "private" | "direct" | "group";
  member_count: number;
  my_role?: string;
  peer?: User;
  /** Direct and group rooms: the other members, by username. */
  members?: User[];
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

interface Tokens {
  access_token: string;
  expires_in: number;
  user?: User;
}

/** What the session needs from the browser (tests pass fakes). */
export interface SessionEnv {
  fetch: (path: string, init: RequestInit) => Promise<Response>;
  /** Holds only a hint that a session cookie may exist, never a token. */
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  channel: { postMessage(m: SessionNews): void; onmessage: ((e: { data: SessionNews }) => void) | null } | null;
  /** Runs fn while holding the named lock, across this origin's tabs. */
  lock: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
}

export type SessionNews = { type: "login"; user_id: string } | { type: "logout" };

export const SESSION_HEADER = "X-Parley-Session";
const HINT_KEY = "parley.session";

export function browserEnv(): SessionEnv {
  return {
    fetch: (path, init) => fetch(path, init),
    storage: localStorage,
    channel: typeof BroadcastChannel === "undefined" ? null : (new BroadcastChannel("parley.session") as unknown as SessionEnv["channel"]),
    lock: <T,>(name: string, fn: () => Promise<T>) => (navigator.locks ? (navigator.locks.request(name, fn) as Promise<T>) : fn()),
  };
}

export class Api {
  user: User | null = null;
  private access = "";
  private expiresAt = 0;
  private refreshing: Promise<void> | null = null;
  private env: SessionEnv;
  /** This tab's session ended: a logout here or in another tab, or a refused refresh. */
  onLogout: () => void = () => {};
  /** Another tab signed in: this one can resume from the shared cookie. */
  onLogin: () => void = () => {};

  constructor(env?: SessionEnv) {
    this.env = env ?? browserEnv();
    if (this.env.channel) this.env.channel.onmessage = (e) => this.heard(e.data);
  }

  private heard(news: SessionNews) {
    if (news?.type === "logout") {
      if (this.user || this.access) this.drop();
    } else if (news?.type === "login" && news.user_id !== this.user?.id) {
      if (this.user) this.drop(); // the cookie is someone else's now
      this.onLogin();
    }
  }

  private drop() {
    this.access = "";
    this.expiresAt = 0;
    this.user = null;
    this.env.storage.removeItem(HINT_KEY);
    this.onLogout();
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    // JSON answers only: a file's URL comes as JSON, not as a redirect.
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.access) headers["Authorization"] = "Bearer " + (await this.token());
    return this.answer<T>(await this.env.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
  }

  private async answer<T>(resp: Response): Promise<T> {
    if (resp.status === 204) return undefined as T;
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const e = data.error ?? {};
      throw new ApiError(resp.status, e.code ?? "error", e.message ?? resp.statusText);
    }
    return data as T;
  }

  /** A POST to an auth endpoint that sets or uses the session cookie. */
  private session(path: string, body: unknown = {}): Promise<Response> {
    return this.env.fetch(path, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", [SESSION_HEADER]: "cookie" },
    });
  }

  private accept(t: Tokens) {
    this.access = t.access_token;
    this.expiresAt = Date.now() + t.expires_in * 1000;
    if (t.user) this.user = t.user;
  }

  private async signedIn(resp: Response) {
    this.accept(await this.answer<Tokens>(resp));
    this.env.storage.setItem(HINT_KEY, "1");
    this.env.channel?.postMessage({ type: "login", user_id: this.user?.id ?? "" });
  }

  async login(login: string, password: string) {
    await this.signedIn(await this.session("/api/v1/auth/login", { login, password }));
  }

  /** An empty display name leaves the server to use the username. */
  async register(username: string, email: string, password: string, displayName = "") {
    const body = { username, email, password, ...(displayName.trim() ? { display_name: displayName.trim() } : {}) };
    await this.signedIn(await this.session("/api/v1/auth/register", body));
  }

  /** Resumes the session of this browser (a reload, a new tab), if its cookie still works. */
  async resume(): Promise<boolean> {
    if (!this.env.storage.getItem(HINT_KEY)) return false;
    try {
      await this.refresh();
      this.user = await this.call<User>("GET", "/api/v1/me");
      return true;
    } catch {
      return false;
    }
  }

  /** A valid access token, refreshed silently a minute before it expires. */
  async token(): Promise<string> {
    if (Date.now() > this.expiresAt - 60_000) await this.refresh();
    return this.access;
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.env.lock("parley.refresh", async () => {
      const resp = await this.session("/api/v1/auth/refresh");
      if (resp.status === 401 || resp.status === 403) {
        this.drop();
        throw new ApiError(resp.status, "invalid_grant", "session expired: log in again");
      }
      this.accept(await this.answer<Tokens>(resp)); // anything else (unavailable) keeps the session
    }).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Ends the session here and in every tab. */
  logout() {
    this.session("/api/v1/auth/logout").catch(() => {}); // the cookie is cleared by its answer
    this.env.channel?.postMessage({ type: "logout" });
    this.drop();
  }
}
