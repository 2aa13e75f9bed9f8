// The agent's one logger: JSON lines on stderr (what a DaemonSet's log
// pipeline expects), level from --log-level.
import { pino } from 'pino';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
