// REST client for the connector's API, with silent token refresh. The
// refresh token lives in sessionStorage (this tab only); the access token
// only in memory.

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
  kind: "public" | "private" | "direct";
  member_count: number;
  my_role?: string;
  peer?: User;
}

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user?: User;
}

const REFRESH_KEY = "parley.refresh";

export class Api {
  user: User | null = null;
  private access = "";
  private expiresAt = 0;
  private refreshing: Promise<void> | null = null;
  onLogout: () => void = () => {};

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.access) headers["Authorization"] = "Bearer " + (await this.token());
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (resp.status === 204) return undefined as T;
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const e = data.error ?? {};
      throw new ApiError(resp.status, e.code ?? "error", e.message ?? resp.statusText);
    }
    return data as T;
  }

  private accept(t: Tokens) {
    this.access = t.access_token;
    this.expiresAt = Date.now() + t.expires_in * 1000;
    sessionStorage.setItem(REFRESH_KEY, t.refresh_token);
    if (t.user) this.user = t.user;
  }

  async login(login: string, password: string) {
    this.accept(await this.call<Tokens>("POST", "/api/v1/auth/login", { login, password }));
  }

  /** An empty display name leaves the server to use the username. */
  async register(username: string, email: string, password: string, displayName = "") {
    const body = { username, email, password, ...(displayName.trim() ? { display_name: displayName.trim() } : {}) };
    this.accept(await this.call<Tokens>("POST", "/api/v1/auth/register", body));
  }

  /** Resumes a session of this tab, if its refresh token still works. */
  async resume(): Promise<boolean> {
    if (!sessionStorage.getItem(REFRESH_KEY)) return false;
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
    if (!this.refreshing) {
      const rt = sessionStorage.getItem(REFRESH_KEY);
      this.refreshing = (async () => {
        try {
          const resp = await fetch("/api/v1/auth/refresh", {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: rt }),
          });
          if (!resp.ok) {
            this.logout();
            throw new ApiError(resp.status, "invalid_grant", "session expired: log in again");
          }
          this.accept(await resp.json());
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  logout() {
    const rt = sessionStorage.getItem(REFRESH_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    this.access = "";
    this.user = null;
    if (rt) fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: rt }) });
    this.onLogout();
  }
}
