import type { Logger } from '../logging.js';

// Placeholder until the sticky comment module lands.
export async function publishComment(_command: string, _markdown: string, _token: string | undefined, _logger: Logger) {}
