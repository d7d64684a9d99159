import { useState, type FormEvent } from "react";
import { ApiError } from "../../lib/api";
import { api } from "../session";
import { Field } from "../components/Field";

export function AuthScreen({ onIn }: { onIn: () => void }) {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [login, setLogin] = useState("");
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError("");
    try {
      if (mode === "login") await api.login(login, password);
      else await api.register(login, email, password, displayName);
      onIn();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Something went wrong");
    }
  };
  return (
    <main className="flex min-h-full items-center justify-center bg-gray-50 p-4 dark:bg-gray-950">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-xl bg-white p-6 shadow dark:bg-gray-900" aria-labelledby="auth-title">
        <h1 id="auth-title" className="text-2xl font-semibold text-gray-900 dark:text-gray-100">
          {mode === "login" ? "Log in to Parley" : "Create your Parley account"}
        </h1>
        <Field label={mode === "login" ? "Username or email" : "Username"} id="login" value={login} onChange={setLogin} autoComplete="username" />
        {mode === "register" && <Field label="Display name (optional)" id="display-name" value={displayName} onChange={setDisplayName} autoComplete="name" optional />}
        {mode === "register" && <Field label="Email" id="email" type="email" value={email} onChange={setEmail} autoComplete="email" />}
        <Field label="Password" id="password" type="password" value={password} onChange={setPassword}
          autoComplete={mode === "login" ? "current-password" : "new-password"} />
        {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
        <button type="submit" className="w-full rounded-lg bg-indigo-600 px-4 py-2 font-medium text-white hover:bg-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-400">
          {mode === "login" ? "Log in" : "Sign up"}
        </button>
        <button type="button" onClick={() => setMode(mode === "login" ? "register" : "login")} className="w-full text-sm text-indigo-600 hover:underline dark:text-indigo-400">
          {mode === "login" ? "No account? Sign up" : "Have an account? Log in"}
        </button>
      </form>
    </main>
  );
}
