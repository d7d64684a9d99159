export function PresenceDot({ status }: { status?: string }) {
  const color = status === "online" ? "bg-green-500" : status === "away" ? "bg-amber-400" : "bg-gray-400";
  return <span role="img" aria-label={status ?? "offline"} className={"inline-block h-2 w-2 shrink-0 rounded-full " + color} />;
}
