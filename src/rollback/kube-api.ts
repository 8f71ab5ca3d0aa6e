/**
 * Just enough of the Kubernetes REST API for the rollback targets that patch custom resources (Argo
 * Rollouts, KServe): GET and PATCH with a bearer token or a client certificate, over node:https so that a
 * cluster CA can be trusted for this client alone.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigurationError } from '../errors.js';
import type { RollbackContext } from './target.js';

export interface KubeServerOptions {
  /** e.g. https://10.0.0.1:6443; a path prefix (a proxy's) is kept. */
  server: string;
  token?: string;
  /** PEM bundle of the CA that signed the API server's certificate. */
  caFile?: string;
  /** For a test cluster only: accept any server certificate. */
  insecureSkipVerify?: boolean;
}

interface Credentials {
  server: URL;
  token?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  insecureSkipVerify?: boolean;
  /** The kubeconfig context's namespace, when it names one. */
  namespace?: string;
}

export type PatchType = 'merge' | 'json';

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
};
const REQUEST_TIMEOUT_MS = 30_000;
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
]);
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export class KubeApi {
  readonly server: string;
  /** From the kubeconfig context, for callers that were given none. */
  readonly namespace?: string;
  readonly #credentials: Credentials;
  /** Only for https: it carries this cluster's CA and client certificate, and nobody else's. */
  readonly #agent?: https.Agent;

  private constructor(credentials: Credentials) {
    this.#credentials = credentials;
    this.server = credentials.server.origin + credentials.server.pathname.replace(/\/+$/, '');
    this.namespace = credentials.namespace;
    const { ca, cert, key, insecureSkipVerify } = credentials;
    if (credentials.server.protocol === 'https:') {
      this.#agent = new https.Agent({ ca, cert, key, rejectUnauthorized: !insecureSkipVerify });
    }
  }

  static fromServer(options: KubeServerOptions): KubeApi {
    return new KubeApi({
      server: serverUrl(options.server, 'input "kube-api-url"'),
      token: options.token || undefined,
      ca: options.caFile ? readPem(options.caFile, 'input "kube-ca-file"') : undefined,
      insecureSkipVerify: options.insecureSkipVerify,
    });
  }

  /**
   * The current context (or `context`) of a kubeconfig: $KUBECONFIG's first file, else ~/.kube/config, when
   * no path is given. kubectl merges every file in $KUBECONFIG; mlgate reads one.
   */
  static fromKubeconfig(path?: string, context?: string): KubeApi {
    const file =
      path || process.env.KUBECONFIG?.split(delimiter).find(Boolean) || join(homedir(), '.kube', 'config');
    return new KubeApi(readKubeconfig(file, context));
  }

  get<T>(path: string): Promise<T> {
    return this.#request<T>('GET', path);
  }

  /** `dryRun` asks the API server to validate and admit the change without persisting it (?dryRun=All). */
  patch<T>(path: string, body: unknown, options: { dryRun?: boolean; type?: PatchType } = {}): Promise<T> {
    const target = options.dryRun ? `${path}${path.includes('?') ? '&' : '?'}dryRun=All` : path;
    return this.#request<T>('PATCH', target, body, CONTENT_TYPES[options.type ?? 'merge']);
  }

  /** The one-line form of a patch for the outcome's steps. */
  describePatch(path: string, body: unknown, type: PatchType = 'merge'): string {
    return `PATCH ${this.server}${path} (${CONTENT_TYPES[type]}) ${JSON.stringify(body)}`;
  }

  #request<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    const url = new URL(this.server + path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#credentials.token) headers.authorization = `Bearer ${this.#credentials.token}`;
    if (payload !== undefined) {
      headers['content-type'] = contentType!;
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const transport = url.protocol === 'https:' ? https : http;
    const what = `${method} ${url.pathname}`;
    return new Promise<T>((resolve, reject) => {
      const request = transport.request(
        url,
        { method, headers, agent: this.#agent, timeout: REQUEST_TIMEOUT_MS },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (e) => reject(this.#networkError(e)));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status >= 400) return reject(this.#refusal(what, status, text));
            try {
              resolve(JSON.parse(text) as T);
            } catch {
              reject(
                new ConfigurationError(`${this.server} answered ${what} with something that is not JSON`),
              );
            }
          });
        },
      );
      request.on('timeout', () =>
        request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
      );
      request.on('error', (e) => reject(this.#networkError(e)));
      request.end(payload);
    });
  }

  /** The API's own words (its Status object), never the request's headers. */
  #refusal(what: string, status: number, text: string): ConfigurationError {
    let reason = http.STATUS_CODES[status] ?? 'Error';
    let message = text.trim().slice(0, 500);
    try {
      const parsed = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
      if (parsed.kind === 'Status') {
        reason = parsed.reason || reason;
        message = parsed.message ?? '';
      }
    } catch {
      // A proxy in front of the API server may answer in HTML or plain text: its first words are kept.
    }
    const hint =
      status === 401
        ? ' (the token or client certificate is missing, expired or not accepted)'
        : status === 403
          ? ' (give the identity RBAC permission for this verb and resource)'
          : status === 404
            ? ' (check the namespace and name, and that the resource type is installed in the cluster)'
            : '';
    return new ConfigurationError(
      this.#redact(`the Kubernetes API refused ${what}: ${status} ${reason}: ${message}${hint}`),
    );
  }

  #networkError(e: NodeJS.ErrnoException): ConfigurationError {
    const code = e.code ?? '';
    if (TLS_CODES.has(code)) {
      return new ConfigurationError(
        `TLS verification of ${this.server} failed (${code}): give the CA that signed its certificate ` +
          '(kube-ca-file, or certificate-authority in the kubeconfig)',
      );
    }
    if (UNREACHABLE_CODES.has(code) || (e as { errors?: unknown[] }).errors) {
      return new ConfigurationError(
        `the Kubernetes API server ${this.server} is unreachable (${code || e.message})`,
      );
    }
    return new ConfigurationError(this.#redact(`the request to ${this.server} failed: ${e.message}`));
  }

  /** A proxy could echo the Authorization header into its error page. */
  #redact(text: string): string {
    const token = this.#credentials.token;
    return token ? text.split(token).join('***') : text;
  }
}

/** Polls `check` until it returns a value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs: number,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    );
  }
}

/** The mark every cluster target leaves on the object it rolled back; a second run reads it back. */
export const ANNOTATIONS = {
  from: 'mlgate.dev/rolled-back-from',
  to: 'mlgate.dev/rolled-back-to',
  reason: 'mlgate.dev/rollback-reason',
  run: 'mlgate.dev/rollback-run',
} as const;

// Annotation values share a 256 KiB budget per object; a pasted report must not exhaust it.
const MAX_REASON = 1024;

export function auditAnnotations(ctx: RollbackContext, from: string, to: string): Record<string, string> {
  return {
    [ANNOTATIONS.from]: from,
    [ANNOTATIONS.to]: to,
    [ANNOTATIONS.reason]: ctx.reason.slice(0, MAX_REASON),
    ...(ctx.runUrl ? { [ANNOTATIONS.run]: ctx.runUrl } : {}),
  };
}

/** A path segment: names are DNS labels, but a typo must not turn into another path. */
export function segment(name: string): string {
  return encodeURIComponent(name);
}

function serverUrl(server: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigurationError(`${server} is not a URL (e.g. https://10.0.0.1:6443)`, where);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigurationError(`${server} is not an http(s) URL`, where);
  }
  return url;
}

function readPem(file: string, where: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigurationError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, where);
  }
}

/** Resolves the context to credentials; contents are never put in messages, only names and paths. */
function readKubeconfig(file: string, contextName?: string): Credentials {
  const where = `kubeconfig ${file}`;
  let config: Record<string, any>;
  try {
    config = parseYaml(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigurationError(code ? `cannot read it (${code})` : 'is not valid YAML', where);
  }
  const name = contextName || config['current-context'];
  if (!name) throw new ConfigurationError('has no current-context; give a context', where);
  const find = (list: unknown, kind: 'cluster' | 'user' | 'context', key: string): Record<string, any> => {
    const entry = (Array.isArray(list) ? list : []).find((e) => e?.name === key);
    if (!entry?.[kind]) throw new ConfigurationError(`has no ${kind} named "${key}"`, where);
    return entry[kind];
  };
  const context = find(config.contexts, 'context', name);
  const cluster = find(config.clusters, 'cluster', context.cluster);
  const user = context.user ? find(config.users, 'user', context.user) : {};
  // Relative paths in a kubeconfig are relative to the file itself, as kubectl reads them.
  const local = (p: string) => (isAbsolute(p) ? p : join(dirname(file), p));
  const material = (data: unknown, path: unknown, field: string) =>
    typeof data === 'string' && data
      ? Buffer.from(data, 'base64')
      : typeof path === 'string' && path
        ? readPem(local(path), `${where}: ${field}`)
        : undefined;

  if (user.exec || user['auth-provider']) {
    throw new ConfigurationError(
      `user "${context.user}" authenticates through ${user.exec ? `an exec plugin (${user.exec.command})` : 'an auth-provider'}, ` +
        'which mlgate does not run: give a context whose user has a token or a client certificate, ' +
        'or kube-api-url with kube-token',
      where,
    );
  }
  if (user.username || user.password) {
    throw new ConfigurationError(
      `user "${context.user}" uses basic auth, which Kubernetes no longer supports`,
      where,
    );
  }
  const token =
    (typeof user.token === 'string' && user.token) ||
    (typeof user.tokenFile === 'string' && user.tokenFile
      ? readPem(local(user.tokenFile), `${where}: tokenFile`).toString('utf8').trim()
      : undefined);
  if (!cluster.server) throw new ConfigurationError(`cluster "${context.cluster}" has no server`, where);
  return {
    server: serverUrl(cluster.server, where),
    token: token || undefined,
    ca: material(
      cluster['certificate-authority-data'],
      cluster['certificate-authority'],
      'certificate-authority',
    ),
    cert: material(user['client-certificate-data'], user['client-certificate'], 'client-certificate'),
    key: material(user['client-key-data'], user['client-key'], 'client-key'),
    insecureSkipVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: context.namespace || undefined,
  };
}
