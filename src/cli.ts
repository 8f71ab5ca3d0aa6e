#!/usr/bin/env node
import { commands } from './commands/index.js';
import { runTerminal } from './runtime/terminal.js';

const [name, ...argv] = process.argv.slice(2);
const command = commands.find((c) => c.name === name);
if (!command) {
  const list = commands.map((c) => `  ${c.name.padEnd(16)} ${c.title}`).join('\n');
  const usage = `usage: mlgate <command> [--input value ...]\n\ncommands:\n${list}\n\nmlgate <command> --help lists a command's inputs.`;
  if (name && name !== '--help' && name !== '-h') {
    process.stderr.write(`mlgate: unknown command "${name}"\n\n${usage}\n`);
    process.exitCode = 2;
  } else process.stdout.write(`${usage}\n`);
} else {
  process.exitCode = await runTerminal(command, argv);
}
