import { stickyMarker, upsertStickyComment } from '../github/comment.js';
import { readPullRequestContext } from '../github/context.js';
import type { Logger } from '../logging.js';

/** Posts or updates the action's sticky PR comment; skips with a notice off a PR, under act or without a token. */
export async function publishComment(
  command: string,
  markdown: string,
  token: string | undefined,
  logger: Logger,
) {
  const pr = readPullRequestContext(process.env, { token });
  if (pr.kind === 'skip') {
    logger.info(`PR comment skipped: ${pr.reason}`);
    return;
  }
  const result = await upsertStickyComment(
    { token: token ?? '', pr, marker: stickyMarker(command, pr.job), body: markdown },
    logger,
  );
  if (result.action !== 'skipped')
    logger.info(`PR comment ${result.action}${result.url ? `: ${result.url}` : ''}`);
}
