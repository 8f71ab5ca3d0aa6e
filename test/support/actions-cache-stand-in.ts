/**
 * A STAND-IN for the GitHub Actions cache service, which exists only on GitHub's runners. It speaks the
 * v1 protocol that @actions/cache uses on GHES and under act (ACTIONS_CACHE_URL), and checks requests
 * the way that protocol requires:
 *  - every request carries `Authorization: Bearer <ACTIONS_RUNTIME_TOKEN>` and
 *    `Accept: application/json;api-version=6.0-preview.1`;
 *  - GET  _apis/artifactcache/cache?keys=k1,k2&version=V: 204 on a miss, else {cacheKey, archiveLocation};
 *    the first key matches exactly or as a prefix, then each restore key as a prefix (newest first), and
 *    only entries saved with the same version (paths and compression) match;
 *  - POST _apis/artifactcache/caches {key, version, cacheSize} reserves: {cacheId}, or 409 when taken;
 *  - PATCH _apis/artifactcache/caches/:id with `Content-Range: bytes a-b/*` uploads a chunk;
 *  - POST _apis/artifactcache/caches/:id {size} commits; the size must equal the bytes uploaded.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Entry {
  key: string;
  version: string;
  chunks: { start: number; data: Buffer }[];
  committed?: Buffer;
  savedAt: number;
}

export interface CacheStandIn {
  /** ACTIONS_CACHE_URL: ends with a slash, as the runner sets it. */
  url: string;
  token: string;
  /** Committed entries by key. */
  entries(): string[];
  requests: string[];
  close(): Promise<void>;
}

export async function startCacheStandIn(token = 'runtime-token-for-tests'): Promise<CacheStandIn> {
  const entries: Entry[] = [];
  const requests: string[] = [];
  let clock = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    const json = (status: number, value?: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(value === undefined ? undefined : JSON.stringify(value));
    };
    if (url.pathname.startsWith('/download/')) {
      const entry = entries[Number(url.pathname.split('/')[2]) - 1];
      if (!entry?.committed) return json(404);
      res.writeHead(200, { 'content-length': entry.committed.length });
      return res.end(entry.committed);
    }
    if (req.headers.authorization !== `Bearer ${token}`) return json(401, { message: 'bad token' });
    if (!/api-version=6\.0-preview\.1/.test(String(req.headers.accept)))
      return json(400, { message: 'missing api-version' });
    const base = '/_apis/artifactcache/';
    if (req.method === 'GET' && url.pathname === `${base}cache`) {
      const keys = (url.searchParams.get('keys') ?? '').split(',');
      const version = url.searchParams.get('version');
      const ready = entries
        .filter((e) => e.committed && e.version === version)
        .sort((a, b) => b.savedAt - a.savedAt);
      for (const [i, key] of keys.entries()) {
        const hit = (i === 0 && ready.find((e) => e.key === key)) || ready.find((e) => e.key.startsWith(key));
        if (hit)
          return json(200, {
            cacheKey: hit.key,
            scope: 'refs/heads/main',
            archiveLocation: `http://127.0.0.1:${(server.address() as AddressInfo).port}/download/${entries.indexOf(hit) + 1}`,
          });
      }
      return json(204);
    }
    if (req.method === 'POST' && url.pathname === `${base}caches`) {
      const { key, version } = JSON.parse(body.toString());
      if (!key || !version) return json(400, { message: 'key and version are required' });
      if (entries.some((e) => e.key === key && e.version === version))
        return json(409, {
          message: `Cache already exists. Scope: refs/heads/main, Key: ${key}, Version: ${version}`,
        });
      entries.push({ key, version, chunks: [], savedAt: ++clock });
      // Ids start at 1: the client treats a cacheId of 0 as no reservation.
      return json(201, { cacheId: entries.length });
    }
    const id = url.pathname.startsWith(`${base}caches/`) ? Number(url.pathname.slice(base.length + 7)) : NaN;
    const entry = entries[id - 1];
    if (!entry || entry.committed) return json(404, { message: 'no such reservation' });
    if (req.method === 'PATCH') {
      const range = /^bytes (\d+)-(\d+)\/\*$/.exec(String(req.headers['content-range']));
      if (!range || Number(range[2]) - Number(range[1]) + 1 !== body.length)
        return json(400, { message: 'bad Content-Range' });
      entry.chunks.push({ start: Number(range[1]), data: body });
      return json(204);
    }
    if (req.method === 'POST') {
      const { size } = JSON.parse(body.toString());
      const data = Buffer.concat(entry.chunks.sort((a, b) => a.start - b.start).map((c) => c.data));
      if (data.length !== size)
        return json(400, { message: `size ${size} but ${data.length} bytes uploaded` });
      entry.committed = data;
      return json(204);
    }
    return json(404);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    token,
    entries: () => entries.filter((e) => e.committed).map((e) => e.key),
    requests,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
