export function Field(p: { label: string; id: string; value: string; onChange: (v: string) => void; type?: string; autoComplete?: string; optional?: boolean }) {
  return (
    <label htmlFor={p.id} className="block text-sm text-gray-700 dark:text-gray-300">
      {p.label}
      <input id={p.id} name={p.id} type={p.type ?? "text"} value={p.value} autoComplete={p.autoComplete} required={!p.optional}
        onChange={(e) => p.onChange(e.target.value)}
        className="mt-1 block w-full rounded-lg border border-gray-300 bg-white px-3 py-2 text-gray-900 focus:border-indigo-500 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-400 dark:border-gray-700 dark:bg-gray-800 dark:text-gray-100" />
    </label>
  );
}
