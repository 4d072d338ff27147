#!/usr/bin/env node
// A `solc` command-line adapter over the npm `solc` package (the official
// compiler built to WebAssembly). It answers the two forms that py-solc-x,
// ape-solidity and forge use:
//   solc --version
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths ...]  < input.json
// Imports that the JSON input does not carry are read from disk, relative to
// the base path, each include path and the working directory, in that order.
'use strict';
const fs = require('fs');
const path = require('path');

const here = __dirname;
const solc = require(require.resolve('solc', { paths: [path.join(here, '..'), process.cwd()] }));

function nativeVersion() {
  // "0.8.37+commit.f401782d.Emscripten.clang" -> "0.8.37+commit.f401782d.Linux.g++"
  return solc.version().replace(/\.Emscripten\.clang$/, '.Linux.g++');
}

const args = process.argv.slice(2);
if (args.includes('--version') || args.includes('-v')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write(`Version: ${nativeVersion()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc-npm adapter: only --version and --standard-json are supported\n');
  process.exit(2);
}

const roots = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path') roots.push(args[++i]);
  else if (args[i].startsWith('--base-path=') || args[i].startsWith('--include-path=')) roots.push(args[i].split('=')[1]);
}
roots.push(process.cwd());

function findImports(p) {
  const candidates = path.isAbsolute(p) ? [p] : roots.map((r) => path.resolve(r, p));
  for (const c of candidates) {
    try {
      return { contents: fs.readFileSync(c, 'utf8') };
    } catch (_) { /* try the next root */ }
  }
  return { error: `File not found: ${p} (searched ${roots.join(', ')})` };
}

const input = fs.readFileSync(0, 'utf8');
// Sources given only by `urls` are loaded here, as native solc would.
let parsed;
try {
  parsed = JSON.parse(input);
} catch (e) {
  process.stdout.write(JSON.stringify({ errors: [{ severity: 'error', type: 'JSONError', message: String(e), formattedMessage: String(e) }] }));
  process.exit(0);
}
for (const [name, src] of Object.entries(parsed.sources || {})) {
  if (src.content === undefined && Array.isArray(src.urls)) {
    for (const u of src.urls) {
      const r = findImports(u);
      if (r.contents !== undefined) { src.content = r.contents; delete src.urls; break; }
    }
    if (src.content === undefined) {
      const r = findImports(name);
      if (r.contents !== undefined) { src.content = r.contents; delete src.urls; }
    }
  }
}
process.stdout.write(solc.compile(JSON.stringify(parsed), { import: findImports }));
