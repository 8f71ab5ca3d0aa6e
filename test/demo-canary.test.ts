import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canaryScenarioAvailable, runCanaryScenario } from '../scripts/demo-canary.js';

// The canary part of `npm run demo`, end to end: two example servers, live traffic, a real Prometheus
// scraping them, canary-gate, and the rollback webhook. Only outcomes are checked, never how long anything
// took: the scenario waits for data rather than for a fixed time.

describe.skipIf(!canaryScenarioAvailable)('the demo canary scenario against a real Prometheus', () => {
  it('rolls back the faulty canary and delivers exactly one valid signed webhook', async () => {
    const reportDir = mkdtempSync(join(tmpdir(), 'mlgate-demo-canary-'));
    const lines: string[] = [];
    const result = await runCanaryScenario({ reportDir, log: (line) => lines.push(line) });

    expect(result.problems).toEqual([]);
    expect(result.decision).toBe('rollback');
    expect(result.gateExitCode).toBe(0);
    expect(result.rollbackExitCode).toBe(0);

    const gate = JSON.parse(readFileSync(join(reportDir, 'canary-gate.json'), 'utf8'));
    expect(gate.details.decision).toBe('rollback');
    expect(gate.details.reason).toMatch(/^critical metric failed: error-rate/);
    expect(gate.details.metrics.find((m: any) => m.name === 'error-rate').verdict).toBe('fail');
    expect(result.traffic.stable.errors).toBe(0);
    expect(result.traffic.canary.errors).toBeGreaterThan(0);

    expect(result.deliveries).toHaveLength(1);
    const [delivery] = result.deliveries;
    expect(delivery).toMatchObject({ method: 'POST', event: 'mlgate.rollback', signatureValid: true });
    expect(delivery.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(JSON.parse(delivery.body)).toMatchObject({
      event: 'mlgate.rollback',
      what: 'churn-model',
      from: 'model.onnx (canary)',
      to: 'baseline.onnx (stable)',
      reason: expect.stringMatching(/^canary-gate: rollback \(critical metric failed: error-rate/),
    });
    const rollback = JSON.parse(readFileSync(join(reportDir, 'rollback.json'), 'utf8'));
    expect(rollback.details.after.delivery).toBe(delivery.delivery);
    expect(lines.join('\n')).toContain('valid: the HMAC-SHA256 of the body');

    // Nothing is left running or on disk.
    const { stable, canary, prometheus, receiver, prometheusDataDir } = result.endpoints;
    for (const url of [stable, canary, prometheus, receiver]) {
      await expect(fetch(url!), url).rejects.toThrow();
    }
    expect(existsSync(prometheusDataDir!)).toBe(false);
  }, 300_000);
});
