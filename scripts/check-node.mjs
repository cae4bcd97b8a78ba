// `npm start`'s prestart: the scripts are TypeScript that Node runs by type stripping, which
// needs no flag from Node 22.18 on; an older node fails with a bare ERR_UNKNOWN_FILE_EXTENSION.
// Plain JavaScript, so any node can run it and say so.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
	console.error(
		`npm start needs Node.js 22.18 or newer (it runs TypeScript by type stripping); this is node ${process.version} (${process.execPath}).\n` +
			"Put a newer node first on PATH (`nvm use` reads .nvmrc); see README.md, Prerequisites.",
	);
	process.exit(1);
}
