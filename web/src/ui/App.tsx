import { useEffect, useState } from "react";
import type { User } from "../lib/api";
import { api } from "./session";
import { AuthScreen } from "./screens/AuthScreen";
import { Shell } from "./screens/Shell";

export function App() {
  const [user, setUser] = useState<User | null>(null);
  const [booting, setBooting] = useState(true);
  useEffect(() => {
    api.onLogout = () => setUser(null);
    // Signed in in another tab: this one shares its cookie.
    api.onLogin = () => api.resume().then((ok) => setUser(ok ? api.user : null));
    api.resume().then((ok) => {
      if (ok) setUser(api.user);
      setBooting(false);
    });
  }, []);
  if (booting) return <p className="p-8 text-gray-500">Loading…</p>;
  return user ? <Shell me={user} /> : <AuthScreen onIn={() => setUser(api.user)} />;
}
