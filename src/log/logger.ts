// The agent's one logger: JSON lines on stderr (what a DaemonSet's log
// pipeline expects), level from --log-level.
import { pino } from 'pino';
import type { LogLevel } from './log-levels.js';

export { LOG_LEVELS, type LogLevel } from './log-levels.js';

export type Logger = pino.Logger;

export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
