import { describe, expect, it } from "vitest";
import { decodeKey, disablePush, enablePush, type PushEnv, type SubscriptionLike } from "./push";

// A browser whose push manager hands out subscriptions, and a server that
// records the API calls.
function setup(permission = "granted") {
  const calls: { method: string; path: string; body?: any }[] = [];
  const api = {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      calls.push({ method, path, body });
      if (path === "/api/v1/push/key") return { vapid_public_key: "BAEC_w" } as T; // bytes 4, 1, 2, 255
      return undefined as T;
    },
  };
  let current: SubscriptionLike | null = null;
  const subscribed: Uint8Array[] = [];
  const pushManager = {
    async getSubscription() { return current; },
    async subscribe(o: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }) {
      expect(o.userVisibleOnly).toBe(true);
      subscribed.push(o.applicationServerKey);
      current = {
        endpoint: "https://fcm.googleapis.com/fcm/send/abc",
        toJSON: () => ({ endpoint: "https://fcm.googleapis.com/fcm/send/abc", keys: { p256dh: "pk", auth: "au" } }),
        unsubscribe: async () => { current = null; return true; },
      };
      return current;
    },
  };
  const registered: string[] = [];
  const env: PushEnv = {
    serviceWorker: { register: async (url: string) => { registered.push(url); return { pushManager }; } },
    requestPermission: async () => permission,
  };
  return { api, env, calls, subscribed, registered, current: () => current };
}

describe("web push", () => {
  it("subscribes with the server's key and registers the subscription", async () => {
    const s = setup();
    await enablePush(s.api, s.env);
    expect(s.registered).toEqual(["/sw.js"]);
    expect([...s.subscribed[0]]).toEqual([4, 1, 2, 255]);
    const post = s.calls.find((c) => c.method === "POST");
    expect(post).toEqual({ method: "POST", path: "/api/v1/push/subscriptions",
      body: { endpoint: "https://fcm.googleapis.com/fcm/send/abc", keys: { p256dh: "pk", auth: "au" } } });
  });

  it("reuses an existing subscription and removes it on disable", async () => {
    const s = setup();
    await enablePush(s.api, s.env);
    await enablePush(s.api, s.env);
    expect(s.subscribed).toHaveLength(1);
    await disablePush(s.api, s.env);
    expect(s.calls.at(-1)).toEqual({ method: "DELETE", path: "/api/v1/push/subscriptions", body: { endpoint: "https://fcm.googleapis.com/fcm/send/abc" } });
    expect(s.current()).toBeNull();
  });

  it("explains why it cannot subscribe", async () => {
    const denied = setup("denied");
    await expect(enablePush(denied.api, denied.env)).rejects.toThrow(/blocked/);
    expect(denied.calls).toHaveLength(0);
    await expect(enablePush(denied.api, {})).rejects.toThrow(/cannot receive/);
  });

  it("decodes base64url keys", () => {
    expect([...decodeKey("_-8")]).toEqual([255, 239]);
  });
});
