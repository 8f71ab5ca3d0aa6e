#!/usr/bin/env node
// Copies the lockfile entries of the native engines (and everything they depend on) into
// src/native/pins.json, so that the bundled action can `npm ci` exactly those versions, verified
// against the same sha512 integrity hashes, on a runner that has no node_modules.
//
//   node scripts/gen-native-pins.mjs           write src/native/pins.json (only when it changed)
//   node scripts/gen-native-pins.mjs --check   exit 1 when pins.json is stale
//   node scripts/gen-native-pins.mjs --stdout  print what would be written
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOTS = ['onnxruntime-node', '@duckdb/node-api'];

// What `npm ci` reads from a lockfile entry. Flags such as dev/devOptional describe mlgate's own tree,
// not the engines' install, so they stay behind.
const KEPT_FIELDS = [
  'version',
  'resolved',
  'integrity',
  'license',
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bundleDependencies',
  'os',
  'cpu',
  'libc',
  'engines',
  'bin',
  'hasInstallScript',
  'optional',
  'inBundle',
];

/** Where npm would find `name` when it is required from the package installed at `from`. */
function resolveLocation(packages, from, name) {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const i = base.lastIndexOf('/node_modules/');
    base = i === -1 ? '' : base.slice(0, i);
  }
}

/** The pins for a parsed package-lock.json (lockfileVersion 2 or 3). */
export function buildPins(lock) {
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) {
    throw new Error('package-lock.json must be lockfileVersion 2 or 3 (it needs the "packages" map)');
  }
  const packages = lock.packages;
  const rootDeps = { ...packages['']?.dependencies, ...packages['']?.optionalDependencies };
  const picked = {};
  const missing = [];
  const queue = [];
  for (const name of ROOTS) {
    if (!rootDeps[name]) throw new Error(`${name} is not a dependency in package-lock.json`);
    const at = resolveLocation(packages, '', name);
    if (!at) throw new Error(`package-lock.json has no entry for ${name}`);
    queue.push(at);
  }
  while (queue.length > 0) {
    const at = queue.shift();
    if (picked[at]) continue;
    const entry = packages[at];
    if (entry.link)
      throw new Error(`${at} is a link in package-lock.json; the engines must come from the registry`);
    picked[at] = Object.fromEntries(
      KEPT_FIELDS.filter((f) => entry[f] !== undefined).map((f) => [f, entry[f]]),
    );
    const edges = [
      ...Object.entries(entry.dependencies ?? {}).map(([name, spec]) => ({ name, spec, optional: false })),
      ...Object.entries(entry.optionalDependencies ?? {}).map(([name, spec]) => ({
        name,
        spec,
        optional: true,
      })),
    ];
    for (const { name, spec, optional } of edges) {
      const dep = resolveLocation(packages, at, name);
      if (dep) queue.push(dep);
      else if (optional) missing.push({ name, spec, requiredBy: at });
      else throw new Error(`package-lock.json is missing ${name}@${spec}, a dependency of ${at}`);
    }
  }
  const sortedPackages = Object.fromEntries(
    Object.keys(picked)
      .sort()
      .map((k) => [k, picked[k]]),
  );
  missing.sort((a, b) => a.name.localeCompare(b.name));
  const roots = Object.fromEntries(
    ROOTS.map((name) => [name, packages[resolveLocation(packages, '', name)].version]),
  );
  const hash = createHash('sha256').update(JSON.stringify(sortedPackages)).digest('hex').slice(0, 8);
  return { generatedBy: 'scripts/gen-native-pins.mjs', roots, hash, packages: sortedPackages, missing };
}

/** JSON laid out the way Biome formats it (objects open, short arrays of strings on one line). */
export function renderPins(pins) {
  const render = (value, indent, prefixWidth) => {
    if (Array.isArray(value) && value.every((v) => typeof v !== 'object' || v === null)) {
      const inline = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (prefixWidth + inline.length + 1 <= 110) return inline;
    }
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    const entries = Array.isArray(value) ? value.map((v) => [undefined, v]) : Object.entries(value);
    if (entries.length === 0) return Array.isArray(value) ? '[]' : '{}';
    const inner = `${indent}  `;
    const lines = entries.map(([k, v]) => {
      const head = k === undefined ? inner : `${inner}${JSON.stringify(k)}: `;
      return `${head}${render(v, inner, head.length)}`;
    });
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
    return `${open}\n${lines.join(',\n')}\n${indent}${close}`;
  };
  return `${render(pins, '', 0)}\n`;
}

function main(argv) {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
  const lockPath = join(repo, 'package-lock.json');
  const pinsPath = join(repo, 'src', 'native', 'pins.json');
  const pins = buildPins(JSON.parse(readFileSync(lockPath, 'utf8')));
  const text = renderPins(pins);
  if (argv.includes('--stdout')) {
    process.stdout.write(text);
    return 0;
  }
  let current = '';
  try {
    current = readFileSync(pinsPath, 'utf8');
  } catch {}
  for (const m of pins.missing) {
    // npm leaves other platforms' optional packages out of a lockfile in some situations; the install
    // then cannot pin (or even find) them, so say so at build time rather than on a user's runner.
    process.stderr.write(
      `warning: package-lock.json has no entry for ${m.name}@${m.spec} (optional, of ${m.requiredBy})\n`,
    );
  }
  if (argv.includes('--check')) {
    if (current === text) return 0;
    process.stderr.write('src/native/pins.json is stale: run `node scripts/gen-native-pins.mjs`\n');
    return 1;
  }
  if (current !== text) writeFileSync(pinsPath, text);
  process.stdout.write(
    `${current === text ? 'unchanged' : 'wrote'} src/native/pins.json: ${Object.keys(pins.packages).length} packages, hash ${pins.hash}\n`,
  );
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = main(process.argv.slice(2));
}
