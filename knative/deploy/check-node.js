// make deploy: fails early, with the range, when Node is outside the one the
// web client's build tool (Vite) declares in web/package-lock.json, instead
// of halfway through a deploy.
const want = require("../../web/package-lock.json").packages["node_modules/vite"].engines.node;
const have = process.versions.node.split(".").map(Number);
const atLeast = (v, min) => v[0] !== min[0] ? v[0] > min[0] : v[1] !== min[1] ? v[1] > min[1] : v[2] >= min[2];
const ok = want.split("||").some((clause) => {
	const m = /^(\^|>=)(\d+)\.(\d+)\.(\d+)$/.exec(clause.trim());
	if (!m) {
		console.error(`deploy: cannot read the Node range "${clause.trim()}" of Vite; check ${want} by hand`);
		process.exit(1);
	}
	const min = m.slice(2).map(Number);
	return atLeast(have, min) && (m[1] === ">=" || have[0] === min[0]);
});
if (!ok) {
	console.error(`deploy: Node ${process.versions.node} cannot build the web client: Vite needs ${want}`);
	process.exit(1);
}
