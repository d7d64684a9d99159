import { useEffect, useMemo, useState } from "react";
import { browserPushEnv, disablePush, enablePush, pushEnabled } from "../../lib/push";
import { api } from "../session";

/** Lets this browser show notifications (Web Push) while you are away. */
export function DevicePush() {
  const env = useMemo(() => browserPushEnv(), []);
  const [on, setOn] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => { pushEnabled(env).then(setOn, () => setOn(false)); }, [env]);
  if (!env.serviceWorker) return null;
  const toggle = async () => {
    setError("");
    try {
      if (on) await disablePush(api, env);
      else await enablePush(api, env);
      setOn(!on);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  return (
    <p className="mb-3 text-sm">
      <button onClick={toggle} className="rounded border px-2 py-1 hover:bg-gray-100 dark:border-gray-700 dark:hover:bg-gray-800">
        {on ? "Stop notifying this device" : "Notify this device while I'm away"}
      </button>
      {error && <span role="alert" className="ml-2 text-red-600">{error}</span>}
    </p>
  );
}
