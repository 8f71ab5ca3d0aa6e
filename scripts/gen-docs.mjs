// Writes the inputs and outputs tables of every actions/<name>/README.md from its action.yml, between
// the <!-- inputs:start/end --> and <!-- outputs:start/end --> markers. `--check` exits 1 when stale.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const cell = (s) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')
    .trim();

export function inputsTable(spec) {
  const rows = Object.entries(spec.inputs ?? {}).map(([name, i]) => {
    const def = i.default === undefined || i.default === '' ? '' : `\`${cell(i.default)}\``;
    return `| \`${name}\` | ${i.required ? 'yes' : 'no'} | ${def} | ${cell(i.description)} |`;
  });
  return ['| Input | Required | Default | Description |', '|---|---|---|---|', ...rows].join('\n');
}

export function outputsTable(spec) {
  const rows = Object.entries(spec.outputs ?? {}).map(
    ([name, o]) => `| \`${name}\` | ${cell(o.description)} |`,
  );
  return ['| Output | Description |', '|---|---|', ...rows].join('\n');
}

export function renderReadme(readme, spec) {
  const put = (text, name, table) => {
    const re = new RegExp(`(<!-- ${name}:start -->)[\\s\\S]*?(<!-- ${name}:end -->)`);
    if (!re.test(text))
      throw new Error(`README has no <!-- ${name}:start --> ... <!-- ${name}:end --> markers`);
    return text.replace(re, `$1\n${table}\n$2`);
  };
  return put(put(readme, 'inputs', inputsTable(spec)), 'outputs', outputsTable(spec));
}

const check = process.argv.includes('--check');
let stale = false;
for (const name of readdirSync('actions')) {
  const readmePath = join('actions', name, 'README.md');
  if (!existsSync(readmePath)) continue;
  const spec = parse(readFileSync(join('actions', name, 'action.yml'), 'utf8'));
  const current = readFileSync(readmePath, 'utf8');
  const next = renderReadme(current, spec);
  if (next === current) continue;
  if (check) {
    console.error(`${readmePath} is stale: run npm run build`);
    stale = true;
  } else {
    writeFileSync(readmePath, next);
    console.log(`wrote ${readmePath}`);
  }
}
if (stale) process.exit(1);
