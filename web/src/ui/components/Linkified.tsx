const urlRE = /(https?:\/\/[^\s<>"]+)/g;

/** Text with http(s) links; everything stays text, never HTML. */
export function Linkified({ text }: { text: string }) {
  const parts = text.split(urlRE);
  return (
    <>
      {parts.map((p, i) =>
        i % 2 === 1 ? <a key={i} href={p} target="_blank" rel="noopener noreferrer nofollow" className="text-indigo-600 underline dark:text-indigo-400">{p}</a> : <span key={i}>{p}</span>,
      )}
    </>
  );
}
