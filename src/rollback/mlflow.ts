/**
 * Rolls an MLflow registered-model alias (e.g. champion) back to an earlier version.
 *
 * Where to go back to is `version` when given; otherwise it is read from the alias history mlgate keeps in
 * the registered-model tag `mlgate.alias_history.<alias>`: a JSON list of the versions the alias pointed
 * to, newest last, appended to on every move mlgate makes. MLflow itself keeps no alias history, so the
 * first rollback of a model whose alias mlgate has never moved needs `version`.
 *
 * The audit trail: the history tag, the registered-model tag `mlgate.last_rollback.<alias>` (from, to,
 * reason, run, time; it is also how a second run knows the rollback is done), and the model-version tag
 * `mlgate.rollback_reason` on the version rolled back from.
 */
import { ConfigurationError } from '../errors.js';
import { MLGATE_VERSION } from '../report/json.js';
import type { RollbackContext, RollbackOutcome, RollbackTarget } from './target.js';

export interface MlflowOptions {
  /** The tracking server, e.g. https://mlflow.example.com (http or https). */
  trackingUri: string;
  /** Sent as a bearer token. */
  token?: string;
  /** Basic auth, as the MLflow auth app expects. */
  username?: string;
  password?: string;
  model: string;
  alias: string;
  /** The version to point the alias at; by default the previous one in mlgate's alias history. */
  version?: string;
}

interface ModelVersion {
  version: string;
  status?: string;
  tags?: { key: string; value: string }[];
}

interface LastRollback {
  from: string;
  to: string;
}

const WHERE = 'mlflow rollback';
// Model-registry tag values of up to 5,000 bytes are accepted by every MLflow storage backend.
const TAG_VALUE_LIMIT = 5_000;
const HISTORY_LIMIT = 100;
// The alias moves at once: nothing to wait for but each answer.
const REQUEST_TIMEOUT_MS = 30_000;

export const historyTag = (alias: string) => `mlgate.alias_history.${alias}`;
export const lastRollbackTag = (alias: string) => `mlgate.last_rollback.${alias}`;
export const REASON_TAG = 'mlgate.rollback_reason';

export function mlflowTarget(options: MlflowOptions): RollbackTarget {
  const api = MlflowApi.from(options);
  if (!options.model.trim()) throw new ConfigurationError('is required', 'input "model-name"');
  if (!options.alias.trim()) throw new ConfigurationError('is required', 'input "alias"');
  return { name: 'mlflow', rollback: (ctx) => rollback(api, options, ctx) };
}

async function rollback(
  api: MlflowApi,
  options: MlflowOptions,
  ctx: RollbackContext,
): Promise<RollbackOutcome> {
  const { model: name, alias } = options;
  const current = await api.aliasVersion(name, alias);
  const tags = await api.registeredModelTags(name);
  const history = readHistory(tags.get(historyTag(alias)), alias);
  const last = readLastRollback(tags.get(lastRollbackTag(alias)));
  const before = { model: name, alias, version: current };

  const done = last && isLastRollbackDone(last, history, current);
  const to = options.version ?? (done ? current : previousVersion(history, current, name, alias));
  if (to === current) {
    const from = done && !options.version ? last.from : current;
    ctx.logger.info(`Alias ${alias} of ${name} already points at version ${to}: nothing to do`);
    return { rolledBack: false, alreadyRolledBack: true, from, to, steps: [], before, after: before };
  }

  const target = await api.modelVersion(name, to);
  if (target.status && target.status !== 'READY') {
    throw new ConfigurationError(`version ${to} of model "${name}" is ${target.status}, not READY`, WHERE);
  }
  // Where the alias was goes in first when mlgate's history does not end there (an explicit version).
  const newHistory = [...history, ...(history.at(-1) === current ? [] : [current]), to].slice(-HISTORY_LIMIT);
  const record = {
    from: current,
    to,
    reason: clip(ctx.reason, 1_000),
    runUrl: ctx.runUrl ?? null,
    at: new Date().toISOString(),
  };
  const steps = [
    `set alias ${alias} of model ${name} to version ${to} (was ${current})`,
    `set registered-model tag ${historyTag(alias)} to ${JSON.stringify(newHistory)}`,
    `set registered-model tag ${lastRollbackTag(alias)}`,
    `set tag ${REASON_TAG} on version ${current}: ${ctx.reason}`,
  ];
  if (ctx.dryRun) {
    for (const step of steps) ctx.logger.info(`Would ${step}`);
    return { rolledBack: false, alreadyRolledBack: false, from: current, to, steps, before, after: {} };
  }

  await api.post('registered-models/alias', { name, alias, version: to });
  ctx.logger.info(`Alias ${alias} of ${name} now points at version ${to} (was ${current})`);
  await api.post('registered-models/set-tag', {
    name,
    key: historyTag(alias),
    value: JSON.stringify(newHistory),
  });
  await api.post('registered-models/set-tag', {
    name,
    key: lastRollbackTag(alias),
    value: JSON.stringify(record),
  });
  await api.post('model-versions/set-tag', {
    name,
    version: current,
    key: REASON_TAG,
    value: clip(ctx.reason, TAG_VALUE_LIMIT),
  });

  const now = await api.aliasVersion(name, alias);
  if (now !== to) {
    throw new ConfigurationError(
      `alias ${alias} of model "${name}" was set to version ${to} but now points at ${now}: something else moved it`,
      WHERE,
    );
  }
  return {
    rolledBack: true,
    alreadyRolledBack: false,
    from: current,
    to,
    steps,
    before,
    after: { model: name, alias, version: now },
  };
}

function readHistory(text: string | undefined, alias: string): string[] {
  if (text === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string' || typeof v === 'number')) {
    throw new ConfigurationError(
      `the registered-model tag ${historyTag(alias)} is not a JSON list of versions: fix or delete it, or give the version to roll back to`,
      WHERE,
    );
  }
  return parsed.map(String);
}

function readLastRollback(text: string | undefined): LastRollback | undefined {
  try {
    const record = text === undefined ? undefined : JSON.parse(text);
    return typeof record?.from === 'string' && typeof record?.to === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The alias is where the last rollback put it, and has not moved since. */
function isLastRollbackDone(last: LastRollback, history: string[], current: string): boolean {
  return last.to === current && history.at(-1) === current && previousEntry(history, current) === last.from;
}

/** The newest history entry before the alias's latest move to `current`. */
function previousEntry(history: string[], current: string): string | undefined {
  let i = history.length - 1;
  while (i >= 0 && history[i] === current) i--;
  return history[i];
}

function previousVersion(history: string[], current: string, name: string, alias: string): string {
  const give = 'give the version to roll back to';
  if (history.length === 0) {
    throw new ConfigurationError(
      `nothing to roll back to: mlgate has no history of alias ${alias} of model "${name}" (tag ${historyTag(alias)}); ${give}`,
      WHERE,
    );
  }
  if (history.at(-1) !== current) {
    throw new ConfigurationError(
      `alias ${alias} points at version ${current}, but mlgate last moved it to ${history.at(-1)}: it was moved outside mlgate, so its history cannot be trusted; ${give}`,
      WHERE,
    );
  }
  const previous = previousEntry(history, current);
  if (previous === undefined) {
    throw new ConfigurationError(
      `nothing to roll back to: alias ${alias} of model "${name}" has only ever pointed at version ${current}; ${give}`,
      WHERE,
    );
  }
  return previous;
}

function clip(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** The MLflow REST API 2.0 calls this target makes; every failure is one clear line without credentials. */
class MlflowApi {
  private constructor(
    private readonly root: string,
    private readonly authorization: string | undefined,
    private readonly secrets: string[],
  ) {}

  static from(options: MlflowOptions): MlflowApi {
    const where = 'input "tracking-uri"';
    if (!/^https?:\/\//i.test(options.trackingUri) || !URL.canParse(options.trackingUri)) {
      throw new ConfigurationError(
        'must be the http(s) URL of an MLflow tracking server, such as https://mlflow.example.com',
        where,
      );
    }
    const url = new URL(options.trackingUri);
    // fetch refuses URLs with credentials in them: they become basic auth instead.
    const username = options.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
    const password = options.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
    url.username = '';
    url.password = '';
    if (options.token && username !== undefined) {
      throw new ConfigurationError('give either a token or a username and password, not both', WHERE);
    }
    if ((username === undefined) !== (password === undefined)) {
      throw new ConfigurationError('basic auth needs both a username and a password', WHERE);
    }
    const basic =
      username !== undefined ? Buffer.from(`${username}:${password}`).toString('base64') : undefined;
    const authorization = options.token ? `Bearer ${options.token}` : basic && `Basic ${basic}`;
    const secrets = [options.token, password, basic].filter((s): s is string => !!s && s.length >= 4);
    return new MlflowApi(url.toString().replace(/\/+$/, ''), authorization, secrets);
  }

  async aliasVersion(name: string, alias: string): Promise<string> {
    const { model_version } = await this.get<{ model_version?: ModelVersion }>('registered-models/alias', {
      name,
      alias,
    });
    if (!model_version?.version) {
      throw new ConfigurationError(`alias ${alias} of model "${name}" points at no version`, WHERE);
    }
    return String(model_version.version);
  }

  async registeredModelTags(name: string): Promise<Map<string, string>> {
    const { registered_model } = await this.get<{
      registered_model?: { tags?: { key: string; value: string }[] };
    }>('registered-models/get', { name });
    return new Map((registered_model?.tags ?? []).map((tag) => [tag.key, tag.value]));
  }

  async modelVersion(name: string, version: string): Promise<ModelVersion> {
    const { model_version } = await this.get<{ model_version?: ModelVersion }>('model-versions/get', {
      name,
      version,
    });
    if (!model_version)
      throw new ConfigurationError(`version ${version} of model "${name}" was not found`, WHERE);
    return model_version;
  }

  get<T>(endpoint: string, query: Record<string, string>): Promise<T> {
    return this.request('GET', `${endpoint}?${new URLSearchParams(query)}`);
  }

  post<T = unknown>(endpoint: string, body: Record<string, string>): Promise<T> {
    return this.request('POST', endpoint, body);
  }

  private async request<T>(method: string, endpoint: string, json?: unknown): Promise<T> {
    const url = `${this.root}/api/2.0/mlflow/${endpoint}`;
    const what = `${method} /api/2.0/mlflow/${endpoint.split('?')[0]}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Accept: 'application/json',
          'User-Agent': `mlgate/${MLGATE_VERSION}`,
          ...(this.authorization ? { Authorization: this.authorization } : {}),
          ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new ConfigurationError(this.redact(`could not reach ${new URL(url).origin}: ${cause(e)}`), WHERE);
    }
    const text = await response.text();
    if (response.ok) {
      try {
        return (text ? JSON.parse(text) : {}) as T;
      } catch {
        throw new ConfigurationError(
          `${what} answered ${response.status} with a body that is not JSON`,
          WHERE,
        );
      }
    }
    throw new ConfigurationError(
      this.redact(`${what} answered ${response.status}: ${reasonOf(response, text)}`),
      WHERE,
    );
  }

  private redact(text: string): string {
    return this.secrets.reduce((out, secret) => out.split(secret).join('***'), text);
  }
}

const HINTS: Record<number, string> = {
  401: 'the tracking server did not accept the credentials (token, or username and password)',
  403: 'the credentials may not change this model: they need the MANAGE permission on it',
};

/** MLflow's `ERROR_CODE: message`, or a short excerpt of a body that is not MLflow's JSON, and a hint. */
function reasonOf(response: Response, text: string): string {
  let reason: string;
  try {
    const body = JSON.parse(text) as { error_code?: unknown; message?: unknown };
    reason = [body.error_code, body.message].filter((part) => typeof part === 'string').join(': ');
  } catch {
    reason = '';
  }
  reason ||= clip(text.replace(/\s+/g, ' ').trim(), 200) || response.statusText;
  const hint = HINTS[response.status];
  return hint ? `${reason}; ${hint}` : reason;
}

/** Why fetch failed: undici hides the system error ("connect ECONNREFUSED ...") in `cause`. */
function cause(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return err.cause?.message || err.cause?.code || err.message;
}
