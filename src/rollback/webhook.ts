/**
 * Hands the rollback to a system that mlgate cannot drive itself: POSTs a signed JSON event to a webhook.
 *
 * The body is signed like GitHub's webhooks: `X-Mlgate-Signature-256: sha256=<hex HMAC-SHA256 of the exact
 * body bytes, keyed with the secret>`. Receivers should recompute it over the raw body before parsing.
 *
 * Idempotency is the receiver's part: every delivery carries an `X-Mlgate-Delivery` id, the same on every
 * retry, and the same when the GitHub run is re-run (it is derived from the run URL and the event), so a
 * receiver that remembers the ids it has acted on acts once. mlgate cannot see the receiver's state, so it
 * never reports `alreadyRolledBack`.
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { ConfigurationError } from '../errors.js';
import { MLGATE_VERSION } from '../report/json.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface WebhookOptions {
  url: string;
  /** Signs the body (HMAC-SHA256); without it the deliveries are unsigned. */
  secret?: string;
  /** Extra request headers, e.g. an API key; never logged. */
  headers?: Record<string, string>;
  /** What is rolled back, e.g. "fraud-model in production". */
  what: string;
  from?: string;
  to?: string;
  /** Retries after a network error, a 5xx or a 429, with exponential backoff (default 3). */
  retries?: number;
}

export interface WebhookEvent {
  event: 'mlgate.rollback';
  what: string;
  from: string | null;
  to: string | null;
  reason: string;
  runUrl: string | null;
  timestamp: string;
}

const WHERE = 'webhook rollback';
const BACKOFF_MS = 1_000;
const MAX_WAIT_MS = 30_000;

export function webhookTarget(options: WebhookOptions): RollbackTarget {
  const url = parseUrl(options.url);
  const headers = checkHeaders(options.headers ?? {});
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new ConfigurationError(`retries must be a whole number of at least 0, not ${retries}`, WHERE);
  }
  if (!options.what.trim()) throw new ConfigurationError('is required', 'input "what"');
  return { name: 'webhook', rollback: (ctx) => rollback({ ...options, headers, retries }, url, ctx) };
}

async function rollback(
  options: WebhookOptions & { headers: Record<string, string>; retries: number },
  url: URL,
  ctx: RollbackContext,
): Promise<RollbackOutcome> {
  const event: WebhookEvent = {
    event: 'mlgate.rollback',
    what: options.what,
    from: options.from ?? null,
    to: options.to ?? null,
    reason: ctx.reason,
    runUrl: ctx.runUrl ?? null,
    timestamp: new Date().toISOString(),
  };
  // fetch sends a string as UTF-8: the bytes signed are the bytes sent.
  const body = JSON.stringify(event);
  const delivery = deliveryId(event);
  const where = `${url.origin}/…`;
  const outcome = { from: options.from ?? '', to: options.to ?? '', before: {} };
  const steps = [`POST a mlgate.rollback event to ${where} (delivery ${delivery})`];
  if (ctx.dryRun) {
    ctx.logger.info(`Would POST to ${where} (delivery ${delivery}${options.secret ? ', signed' : ''}):`);
    ctx.logger.info(JSON.stringify(event, null, 2));
    return { ...outcome, rolledBack: false, alreadyRolledBack: false, steps, after: {} };
  }

  const headers: Record<string, string> = {
    ...options.headers,
    'Content-Type': 'application/json',
    'User-Agent': `mlgate/${MLGATE_VERSION}`,
    'X-Mlgate-Event': event.event,
    'X-Mlgate-Delivery': delivery,
    ...(options.secret ? { 'X-Mlgate-Signature-256': signature(body, options.secret) } : {}),
  };
  // A query string may carry a token too (many webhook URLs do).
  const secrets = [options.secret, ...Object.values(options.headers), url.search.slice(1)];
  const sent = await deliver(url, body, headers, options.retries, Date.now() + ctx.timeoutMs, ctx, secrets);
  ctx.logger.info(`Delivered the rollback event to ${where}: HTTP ${sent.status} (delivery ${delivery})`);
  return {
    ...outcome,
    rolledBack: true,
    alreadyRolledBack: false,
    steps,
    after: { delivery, status: String(sent.status), attempts: String(sent.attempts) },
  };
}

/** `sha256=` and the hex HMAC-SHA256 of the body bytes, as GitHub signs its webhooks. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** Stable for one rollback of one GitHub run, so a re-run is recognisable; random outside a run. */
function deliveryId(event: WebhookEvent): string {
  if (!event.runUrl) return randomUUID();
  const hex = createHash('sha256')
    .update([event.runUrl, event.what, event.from, event.to].join('\n'))
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

async function deliver(
  url: URL,
  body: string,
  headers: Record<string, string>,
  retries: number,
  deadline: number,
  ctx: RollbackContext,
  secrets: (string | undefined)[],
): Promise<{ status: number; attempts: number }> {
  const redact = (text: string) =>
    secrets.reduce<string>((out, s) => (s && s.length >= 4 ? out.split(s).join('***') : out), text);
  const target = `${url.origin}/…`;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    let retryAfter: number | undefined;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        // A redirect would carry the headers (an API key, say) to wherever it points.
        redirect: 'manual',
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      });
      const text = await response.text();
      if (response.status >= 200 && response.status < 300)
        return { status: response.status, attempts: attempt };
      const excerpt = redact(text.replace(/\s+/g, ' ').trim().slice(0, 200));
      failure = `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`;
      if (response.status !== 429 && response.status < 500) {
        throw new ConfigurationError(`${target} answered ${failure}`, WHERE);
      }
      retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    } catch (e) {
      if (e instanceof ConfigurationError) throw e;
      failure = redact(cause(e));
    }
    const wait = Math.min(retryAfter ?? BACKOFF_MS * 2 ** (attempt - 1), MAX_WAIT_MS);
    if (attempt > retries || Date.now() + wait >= deadline) {
      const tries = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
      throw new ConfigurationError(`could not deliver to ${target} (${tries}): ${failure}`, WHERE);
    }
    ctx.logger.warning(`${target}: ${failure}; retrying in ${wait} ms (same delivery id)`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** Retry-After in seconds or as an HTTP date, in ms. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function parseUrl(text: string): URL {
  const where = 'input "webhook-url"';
  if (!/^https?:\/\//i.test(text.trim()) || !URL.canParse(text.trim())) {
    throw new ConfigurationError('must be an http(s) URL', where);
  }
  const url = new URL(text.trim());
  if (url.username || url.password) {
    throw new ConfigurationError('must not carry credentials: put them in a header instead', where);
  }
  return url;
}

function checkHeaders(headers: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new ConfigurationError(`the header "${name}" has a name or value HTTP does not allow`, WHERE);
    }
  }
  return headers;
}

/** Why fetch failed: undici hides the system error ("connect ECONNREFUSED ...") in `cause`. */
function cause(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'no answer before the rollback timeout';
  return err.cause?.message || err.cause?.code || err.message;
}
