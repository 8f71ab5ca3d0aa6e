/**
 * The vulnerability database in the Actions cache: one entry per scanner, platform and day, so the first
 * job of the day downloads it and the rest restore it; yesterday's entry is restored when today's is not
 * there yet (and then refreshed).
 */
import * as cache from '@actions/cache';
import type { Logger } from '../logging.js';
import type { Scanner } from './reports.js';

export interface DbCache {
  /** The key restored (today's or an older day's), or undefined on a miss. */
  restore(dir: string, key: string, restorePrefix: string): Promise<string | undefined>;
  save(dir: string, key: string): Promise<void>;
}

/** The cache key of the day; keys are compared as strings, so the date is ISO. */
export function dbCacheKey(scanner: Scanner, day: Date): { key: string; prefix: string } {
  const prefix = `mlgate-${scanner}-db-${process.platform}-${process.arch}-`;
  return { key: prefix + day.toISOString().slice(0, 10), prefix };
}

/**
 * The Actions cache, when this runner has one (on GitHub, GHES and under act with its cache server);
 * undefined elsewhere (a terminal, another CI system), where the database simply stays in db-dir.
 * Cache failures are warnings: a cold cache costs a download, never the scan.
 */
export function actionsDbCache(logger: Logger): DbCache | undefined {
  if (!cache.isFeatureAvailable()) return undefined;
  return {
    async restore(dir, key, prefix) {
      try {
        return await cache.restoreCache([dir], key, [prefix]);
      } catch (e) {
        logger.warning(`Vulnerability database cache: restore failed: ${(e as Error).message}`);
        return undefined;
      }
    },
    async save(dir, key) {
      try {
        await cache.saveCache([dir], key);
      } catch (e) {
        // Another job of the same day saved it first: that is fine.
        logger.warning(`Vulnerability database cache: save failed: ${(e as Error).message}`);
      }
    },
  };
}
