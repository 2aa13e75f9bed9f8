#!/usr/bin/env node
// datapath-exporter: the command line. Usage errors exit 2, missing
// privileges or kernel features exit 1, each with one line on stderr.
import { Command, CommanderError, Option } from 'commander';
import { Agent } from '../agent.js';
import { BpfError } from '../bpf/errors.js';
import { PinDirError } from '../bpf/pin-dir.js';
import { createLogger, type LogLevel } from '../log/logger.js';
import { VERSION } from '../version.js';
import { formatRows, LIST_FORMATS, type ListFormat, readPinnedRows } from './list-command.js';
import { parseChoice, parseListenAddress, parseLogLevel, parsePollInterval } from './options.js';
import { preflight, PreflightError } from './preflight.js';
import type { ListenAddress } from '../export/http-server.js';

const DEFAULT_BPFFS = '/sys/fs/bpf/datapath-exporter';
const SHUTDOWN_DEADLINE_MS = 2000;

function fail(message: string): never {
  process.stderr.write(`datapath-exporter: ${message}\n`);
  process.exit(1);
}

/** Known failures (privileges, bpffs, kernel) become one line and exit 1. */
function explain(err: unknown): never {
  if (err instanceof PreflightError || err instanceof PinDirError) fail(err.message);
  if (err instanceof Error && 'code' in err && (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL')) {
    const e = err as Error & { address?: string; port?: number; code: string };
    fail(`cannot serve metrics on ${e.address}:${e.port}: ${e.code === 'EADDRINUSE' ? 'it is in use' : 'no such local address'} (see --metrics-addr)`);
  }
  if (err instanceof BpfError) {
    fail(err.isPermission ? `${err.message}: missing privileges (run as root or with CAP_BPF, CAP_PERFMON)` : err.message);
  }
  throw err;
}

const program = new Command()
  .name('datapath-exporter')
  .description('eBPF datapath metrics for Kubernetes nodes: kernel drop reasons, per-pod traffic, as Prometheus metrics')
  .version(VERSION)
  .exitOverride()
  .showSuggestionAfterError(true);

program
  .command('run')
  .description('load the BPF programs and serve /metrics, /healthz and /readyz')
  .addOption(
    new Option('--metrics-addr <host:port>', 'address to serve metrics on').argParser(parseListenAddress).default(parseListenAddress('0.0.0.0:9464'), '0.0.0.0:9464'),
  )
  .addOption(new Option('--poll-interval <duration>', 'how often to read the kernel counters').argParser(parsePollInterval).default(5000, '5s'))
  .option('--bpffs <dir>', 'bpffs directory where counters are pinned (kept across restarts)', DEFAULT_BPFFS)
  .addOption(new Option('--node-name <name>', 'this node\'s name (default: $NODE_NAME, else the host name)').env('NODE_NAME'))
  .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').argParser(parseLogLevel).default('info'))
  .action(async (opts: { metricsAddr: ListenAddress; pollInterval: number; bpffs: string; nodeName?: string; logLevel: LogLevel }) => {
    const log = createLogger(opts.logLevel);
    let agent: Agent;
    try {
      preflight({ needNetAdmin: false });
      agent = await Agent.start(
        { metricsAddr: opts.metricsAddr, pollIntervalMs: opts.pollInterval, bpffs: opts.bpffs, nodeName: opts.nodeName },
        log,
      );
    } catch (err) {
      explain(err);
    }
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
      agent.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });

program
  .command('list')
  .description('print the live counters of the agent from its pinned maps')
  .option('--bpffs <dir>', 'bpffs directory of the agent', DEFAULT_BPFFS)
  .addOption(new Option('-o, --output <format>', 'table or json').argParser(parseChoice(LIST_FORMATS)).default('table'))
  .action((opts: { bpffs: string; output: ListFormat }) => {
    try {
      process.stdout.write(formatRows(readPinnedRows(opts.bpffs), opts.output));
    } catch (err) {
      if (err instanceof BpfError && err.errno === 2) fail(`no pinned counters under ${opts.bpffs}: is the agent running (datapath-exporter run)?`);
      explain(err);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are successes; every other parse error is a usage error.
    process.exit(err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2);
  }
  throw err;
}
