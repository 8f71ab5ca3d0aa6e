// Bundles every action (src/actions/<name>.ts -> actions/<name>/dist/) and the CLI (cli/dist/) with ncc.
// The native engines stay external: they are resolved at first use (src/native/). ncc type-checks
// with src/tsconfig.json (the sources only), so a half-written test cannot break a bundle.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';

const run = (args) => execFileSync(process.execPath, args, { stdio: 'inherit' });
const ncc = join('node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');
const externals = ['-e', 'onnxruntime-node', '-e', '@duckdb/node-api'];

run(['scripts/gen-native-pins.mjs']);
run(['scripts/gen-docs.mjs']);

const only = process.argv[2];
const targets = readdirSync('src/actions')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ entry: join('src/actions', f), out: join('actions', basename(f, '.ts'), 'dist') }));
targets.push({ entry: 'src/cli.ts', out: join('cli', 'dist') });

for (const { entry, out } of targets) {
  if (only && !out.includes(only)) continue;
  rmSync(out, { recursive: true, force: true });
  run([
    ncc,
    'build',
    entry,
    '-o',
    out,
    '--license',
    'licenses.txt',
    '--target',
    'es2022',
    '-q',
    ...externals,
  ]);
  console.log(`built ${out}`);
}
