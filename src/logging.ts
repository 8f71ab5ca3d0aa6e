/** Library code logs through this interface so that it runs the same under the runner, a terminal and tests. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string, where?: Annotation): void;
  error(message: string, where?: Annotation): void;
  /** A group of lines, folded on the runner; a heading in a terminal. */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Progress of long work; throttled by the implementation. */
  progress(label: string, done: number, total?: number): void;
}

export interface Annotation {
  file?: string;
  line?: number;
  column?: number;
  title?: string;
}

/** A logger that remembers what it was told: for tests and for library code run without a face. */
export class MemoryLogger implements Logger {
  readonly lines: { level: 'debug' | 'info' | 'warning' | 'error'; message: string }[] = [];
  debug(message: string) {
    this.lines.push({ level: 'debug', message });
  }
  info(message: string) {
    this.lines.push({ level: 'info', message });
  }
  warning(message: string) {
    this.lines.push({ level: 'warning', message });
  }
  error(message: string) {
    this.lines.push({ level: 'error', message });
  }
  async group<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }
  progress() {}
}
