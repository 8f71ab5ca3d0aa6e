/**
 * canary-gate: query the canary and its baseline over an analysis window, judge every metric, score
 * them and decide promote, rollback or inconclusive. The step fails on the decisions `fail-on` names.
 */
import { type AnalysisSettings, runAnalysis } from '../canary/analysis.js';
import { parseCanaryConfig } from '../canary/config.js';
import {
  httpJsonProvider,
  type MetricProvider,
  type ProviderOptions,
  prometheusProvider,
} from '../canary/providers.js';
import { ConfigurationError } from '../errors.js';
import { buildReport } from '../report/json.js';
import type { Command } from '../runtime/command.js';
import { inlineOrFile, input, parseHeaders, type RawInputs, redactUrl } from '../runtime/inputs.js';
import { renderCanaryGate } from './canary-gate-summary.js';

export interface CanaryGateInputs {
  config: ReturnType<typeof parseCanaryConfig>;
  provider: 'prometheus' | 'http-json';
  options: ProviderOptions;
  valuePath?: string;
  samplesPath?: string;
  settings: AnalysisSettings;
  failOn: 'rollback' | 'inconclusive';
}

function basicAuth(text: string | undefined): ProviderOptions['basicAuth'] {
  if (!text) return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ConfigurationError('expected user:password', 'input "basic-auth"');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export function readCanaryGateInputs(raw: RawInputs): CanaryGateInputs {
  const metrics = inlineOrFile(
    input.required(raw, 'metrics', 'give the metrics config (YAML or JSON, inline or a file)'),
    'metrics',
  );
  const intervalMs = input.duration(raw, 'interval');
  const duration = input.optional(raw, 'duration');
  const iterations = duration
    ? Math.max(1, Math.floor(input.duration(raw, 'duration') / Math.max(intervalMs, 1)))
    : input.int(raw, 'iterations', 1);
  const provider = input.choice(raw, 'provider', ['prometheus', 'http-json'] as const);
  const url = input.required(
    raw,
    'provider-url',
    'give the Prometheus base URL, e.g. http://prometheus:9090',
  );
  if (!/^https?:\/\//.test(url))
    throw new ConfigurationError('expected an http:// or https:// URL', 'input "provider-url"');
  const inconclusive = input.optional(raw, 'inconclusive-limit');
  const settings: AnalysisSettings = {
    intervalMs,
    iterations,
    failureLimit: input.int(raw, 'failure-limit', 0),
    inconclusiveLimit: inconclusive === undefined ? undefined : input.int(raw, 'inconclusive-limit', 0),
    errorLimit: input.int(raw, 'error-limit', 0),
    consecutiveSuccesses: input.int(raw, 'consecutive-successes', 0),
    lookbackMs: input.duration(raw, 'lookback'),
    maxAgeMs: input.duration(raw, 'max-age'),
    passScore: input.number(raw, 'pass-score', { min: 0, max: 100 }) ?? 95,
    marginalScore: input.number(raw, 'marginal-score', { min: 0, max: 100 }) ?? 75,
  };
  if (settings.marginalScore > settings.passScore)
    throw new ConfigurationError(`is above pass-score (${settings.passScore})`, 'input "marginal-score"');
  const valuePath = input.optional(raw, 'value-path');
  if (provider === 'http-json' && !valuePath)
    throw new ConfigurationError(
      'is required with provider: http-json (e.g. data.value)',
      'input "value-path"',
    );
  return {
    config: parseCanaryConfig(metrics.text, metrics.where),
    provider,
    options: {
      url,
      headers: parseHeaders(raw.get('headers')),
      bearerToken: input.optional(raw, 'bearer-token'),
      basicAuth: basicAuth(input.optional(raw, 'basic-auth')),
      timeoutMs: input.duration(raw, 'request-timeout'),
      retries: input.int(raw, 'retries', 0),
      tls: {
        caFile: input.optional(raw, 'tls-ca-file'),
        insecureSkipVerify: input.bool(raw, 'tls-insecure'),
      },
    },
    valuePath,
    samplesPath: input.optional(raw, 'samples-path'),
    settings,
    failOn: input.choice(raw, 'fail-on', ['rollback', 'inconclusive'] as const),
  };
}

export const canaryGate: Command<CanaryGateInputs> = {
  name: 'canary-gate',
  title: 'Canary analysis',
  readInputs: readCanaryGateInputs,
  secrets: (raw) => {
    const secrets = [
      raw.get('bearer-token'),
      raw.get('basic-auth'),
      raw.get('basic-auth').split(':').slice(1).join(':'),
    ];
    try {
      secrets.push(...Object.values(parseHeaders(raw.get('headers'))));
    } catch {
      secrets.push(...raw.get('headers').split(/\r?\n/));
    }
    return secrets.filter((s) => s.trim() !== '');
  },
  async run(inputs, logger) {
    const provider: MetricProvider =
      inputs.provider === 'prometheus'
        ? prometheusProvider(inputs.options)
        : httpJsonProvider({
            ...inputs.options,
            valuePath: inputs.valuePath!,
            samplesPath: inputs.samplesPath,
          });
    const s = inputs.settings;
    const result = await logger.group(
      `Analysing ${inputs.config.metrics.length} metric(s): ${s.iterations} iteration(s), every ${s.intervalMs / 1000} s`,
      () => runAnalysis(inputs.config, provider, s, logger),
    );
    const passed =
      result.decision === 'promote' || (result.decision === 'inconclusive' && inputs.failOn === 'rollback');
    const count = (v: string) => result.metrics.filter((m) => !m.dryRun && m.verdict === v).length;
    const metrics = {
      score: result.score,
      metrics_passed: count('pass'),
      metrics_failed: count('fail'),
      metrics_inconclusive: count('inconclusive'),
      provider_errors: result.metrics.reduce((n, m) => n + m.counts.error, 0),
      iterations: result.iterations.length,
    };
    const report = buildReport({
      command: 'canary-gate',
      gates: [
        {
          expression: `decision is promote${inputs.failOn === 'rollback' ? ' or inconclusive' : ''}`,
          metric: 'score',
          operator: '>=',
          actual: result.score,
          threshold: s.passScore,
          passed,
          scope: 'overall',
          reason: `${result.decision}: ${result.reason}`,
        },
      ],
      metrics,
      warnings: result.stoppedEarly
        ? [`stopped after iteration ${result.iterations.length}: ${result.stoppedEarly}`]
        : [],
      details: {
        decision: result.decision,
        reason: result.reason,
        provider: { type: inputs.provider, url: redactUrl(inputs.options.url) },
        variants: inputs.config.variants,
        settings: { ...s, failOn: inputs.failOn },
        scoring: result.scoring,
        metrics: result.metrics,
        iterations: result.iterations,
      },
    });
    logger.info(`decision: ${result.decision} (score ${result.score}): ${result.reason}`);
    return {
      report,
      markdown: renderCanaryGate(report),
      terminal: [
        `  decision: ${result.decision.toUpperCase()} (score ${result.score}): ${result.reason}`,
        ...result.metrics.map((m) => `  ${m.verdict.padEnd(12)} ${m.name}: ${m.reason}`),
      ],
      outputs: { decision: result.decision, score: String(result.score), metrics: JSON.stringify(metrics) },
    };
  },
};
