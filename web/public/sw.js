// Parley's service worker: shows the Web Push messages the notification
// function sends while you are away, and opens the room when one is clicked.
self.addEventListener("push", (event) => {
  let n = { title: "Parley", body: "", url: "/", tag: undefined };
  try {
    n = { ...n, ...event.data.json() };
  } catch {
    // An unreadable payload still tells the user something happened.
  }
  event.waitUntil(self.registration.showNotification(n.title, { body: n.body, tag: n.tag, data: { url: n.url } }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? "/", self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const w of windows) {
      if (new URL(w.url).origin === self.location.origin) {
        await w.focus();
        return w.navigate(url);
      }
    }
    return self.clients.openWindow(url);
  })());
});
