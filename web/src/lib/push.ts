// Web Push: lets this browser receive notifications while the user is away.
// The browser APIs are passed in so the flow can be tested without a push
// service (none is reachable from a test).

export interface PushEnv {
  serviceWorker?: { register(url: string): Promise<{ pushManager: PushManagerLike }>; ready?: Promise<{ pushManager: PushManagerLike }> };
  requestPermission?: () => Promise<string>;
}

export interface PushManagerLike {
  getSubscription(): Promise<SubscriptionLike | null>;
  subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }): Promise<SubscriptionLike>;
}

export interface SubscriptionLike {
  endpoint: string;
  toJSON(): unknown;
  unsubscribe(): Promise<boolean>;
}

interface ApiLike {
  call<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function browserPushEnv(): PushEnv {
  const supported = typeof navigator !== "undefined" && "serviceWorker" in navigator && typeof window !== "undefined" &&
    "PushManager" in window && typeof Notification !== "undefined";
  if (!supported) return {};
  return {
    serviceWorker: navigator.serviceWorker as unknown as PushEnv["serviceWorker"],
    requestPermission: () => Notification.requestPermission(),
  };
}

/** base64url (as the server gives the VAPID key) to bytes. */
export function decodeKey(b64url: string): Uint8Array {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** Subscribes this browser and registers it with the server. */
export async function enablePush(api: ApiLike, env: PushEnv): Promise<void> {
  if (!env.serviceWorker || !env.requestPermission) throw new Error("This browser cannot receive push notifications.");
  if ((await env.requestPermission()) !== "granted") throw new Error("Notifications are blocked for this site.");
  const { vapid_public_key } = await api.call<{ vapid_public_key: string }>("GET", "/api/v1/push/key");
  const reg = await env.serviceWorker.register("/sw.js");
  const existing = await reg.pushManager.getSubscription();
  const sub = existing ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: decodeKey(vapid_public_key) }));
  await api.call("POST", "/api/v1/push/subscriptions", sub.toJSON());
}

/** Unregisters this browser and drops its subscription. */
export async function disablePush(api: ApiLike, env: PushEnv): Promise<void> {
  const reg = await env.serviceWorker?.register("/sw.js");
  const sub = await reg?.pushManager.getSubscription();
  if (!sub) return;
  await api.call("DELETE", "/api/v1/push/subscriptions", { endpoint: sub.endpoint }).catch(() => undefined);
  await sub.unsubscribe();
}

/** Whether this browser is subscribed. */
export async function pushEnabled(env: PushEnv): Promise<boolean> {
  if (!env.serviceWorker?.ready) return false;
  const reg = await env.serviceWorker.ready;
  return (await reg.pushManager.getSubscription()) !== null;
}
