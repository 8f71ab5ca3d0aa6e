import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rollback } from '../src/commands/rollback.js';
import { runCommand } from './support/command.js';
import { RunnerSandbox } from './support/runner.js';

// The rollback command end to end with its webhook target: a local receiver (a stand-in for the team's
// endpoint) that verifies the signature as a receiver would, with node:crypto.

const SECRET = 'webhook-signing-secret';
let receiver: Server;
let url: string;
const deliveries: { body: string; signature: string; delivery: string }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      deliveries.push({
        body,
        signature: String(req.headers['x-mlgate-signature-256']),
        delivery: String(req.headers['x-mlgate-delivery']),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/rollback`;
});
afterAll(() => receiver.close());

const webhook = (extra: Record<string, string> = {}) => ({
  target: 'webhook',
  'webhook-url': url,
  'webhook-secret': SECRET,
  what: 'churn-model',
  from: 'v2',
  to: 'v1',
  ...extra,
});

describe('rollback', () => {
  it('posts a signed payload that carries the canary-gate report as the reason', async () => {
    const { dir } = await runCommand(rollback, webhook());
    const gateReport = join(dir, 'canary-gate.json');
    writeFileSync(
      gateReport,
      JSON.stringify({
        command: 'canary-gate',
        passed: false,
        details: { decision: 'rollback', reason: 'critical metric failed: error-rate' },
      }),
    );
    deliveries.length = 0;
    const { outcome, report, details } = await runCommand(rollback, webhook({ reason: gateReport }));
    expect(outcome.exitCode).toBe(0);
    expect(deliveries).toHaveLength(1);
    const [d] = deliveries;
    expect(d.signature).toBe(`sha256=${createHmac('sha256', SECRET).update(d.body).digest('hex')}`);
    expect(JSON.parse(d.body)).toMatchObject({
      event: 'mlgate.rollback',
      what: 'churn-model',
      from: 'v2',
      to: 'v1',
      reason: 'canary-gate: rollback (critical metric failed: error-rate)',
    });
    expect(details).toMatchObject({ target: 'webhook', from: 'v2', to: 'v1', rolledBack: true });
    expect(report.passed).toBe(true);
    expect(JSON.stringify(report)).not.toContain(SECRET);
  });

  it('sends nothing in a dry-run and says what it would send', async () => {
    deliveries.length = 0;
    const { outcome, details } = await runCommand(rollback, webhook({ 'dry-run': 'true' }));
    expect(outcome.exitCode).toBe(0);
    expect(deliveries).toHaveLength(0);
    expect(details).toMatchObject({ dryRun: true, rolledBack: false, state: 'dry-run: nothing changed' });
    expect(details.steps.join('\n')).toContain(new URL(url).origin);
  });

  it('refuses an unknown target and a missing input of the chosen one (exit 2)', async () => {
    const unknown = await runCommand(rollback, { target: 'openshift' });
    expect(unknown.outcome.exitCode).toBe(2);
    expect(unknown.message).toMatch(
      /input "target": expected one of kubernetes, argo-rollouts, kserve, helm/,
    );
    const missing = await runCommand(rollback, { target: 'kubernetes' });
    expect(missing.outcome.exitCode).toBe(2);
    expect(missing.message).toBe('input "deployment": is required for target kubernetes');
    const helm = await runCommand(rollback, { target: 'helm' });
    expect(helm.message).toBe('input "release": is required for target helm');
  });

  it('runs bundled as the runner runs it, and masks the signing secret', async () => {
    const run = await new RunnerSandbox('rollback').run(webhook({ reason: 'p95 regression' }));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.outputs).toMatchObject({ 'rolled-back': 'true', from: 'v2', to: 'v1' });
    expect(run.summary).toContain('mlgate rollback (webhook)');
    expect(run.stdout).toContain(`::add-mask::${SECRET}`);
    expect(run.stdout.replace(`::add-mask::${SECRET}`, '')).not.toContain(SECRET);
  });
});
