/** Returns to the room list; only phones need it, where one pane shows at a time. */
export function BackButton({ onBack }: { onBack: () => void }) {
  return (
    <button type="button" onClick={onBack} className="rounded px-2 py-1 text-sm text-indigo-700 hover:bg-gray-100 md:hidden dark:text-indigo-300 dark:hover:bg-gray-800">
      <span aria-hidden="true">← </span>Back
    </button>
  );
}
