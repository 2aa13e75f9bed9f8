#!/usr/bin/env node
// datapath-exporter: the command line. Usage errors and a kernel too old to
// run on exit 2, missing privileges or kernel features exit 1, each with one
// line on stderr. Only light modules are imported here: each command loads
// its own code when it runs, so `run` on an old kernel is refused in moments.
import { Command, CommanderError, Option } from 'commander';
import { ENDPOINT_SLOTS } from '../bpf/contract.js';
import { kernelTooOld } from '../bpf/kernel-version.js';
import { CILIUM_ENDPOINTS_PIN } from '../collect/cilium/endpoint-entry.js';
import { CILIUM_METRICS_PIN, CILIUM_RELEASES, type CiliumRelease, DEFAULT_CILIUM_RELEASE } from '../collect/cilium/source-files.js';
import { DEFAULT_DROP_EVENTS_RATE } from '../events/drop-event.js';
import { METRICS_AUTH_MODES } from '../export/access/metrics-auth-mode.js';
import { DEFAULT_MAX_SERIES, GRANULARITIES } from '../export/series-options.js';
import { VERSION } from '../version.js';
import { fail, usage } from './exit.js';
import { LIST_FORMATS, type ListFormat } from './list-formats.js';
import {
  parseAgentAddress,
  parseChoice,
  parseDuration,
  parseEventRate,
  parseGlobList,
  parseListenAddress,
  parseLogLevel,
  parseMaxEndpoints,
  parseMaxSeries,
  parseNamespaceGlobs,
  parseMetricsAddr,
  parseOtlpEndpoint,
  parsePollInterval,
} from './options.js';
import type { RunFlags } from './run-command.js';
// observe needs only Node's http and tls: loaded with the command line.
import { AgentUnreachable, observe, OBSERVE_FORMATS, type ObserveOptions } from './observe-command.js';

const DEFAULT_BPFFS = '/sys/fs/bpf/datapath-exporter';

const program = new Command()
  .name('datapath-exporter')
  .description('eBPF datapath metrics for Kubernetes nodes: kernel drop reasons, per-pod traffic, as Prometheus metrics')
  .version(VERSION)
  .exitOverride()
  .showSuggestionAfterError(true);

const ciliumMapOption = () =>
  new Option('--cilium-metrics-map <path>', "Cilium's pinned metrics map, read only ('none' to skip)").default(CILIUM_METRICS_PIN);
const ciliumReleaseOption = () =>
  new Option('--cilium-release <version>', 'the Cilium release on this node (names its BPF file ids)')
    .choices([...CILIUM_RELEASES])
    .default(DEFAULT_CILIUM_RELEASE);

program
  .command('run')
  .description('load the BPF programs and serve /metrics, /api/v1/drops, /healthz and /readyz (and/or push OTLP)')
  .addOption(
    new Option('--metrics-addr <host:port>', "address to serve metrics on ('none': no Prometheus pull)")
      .argParser(parseMetricsAddr)
      .default(parseListenAddress('0.0.0.0:9464'), '0.0.0.0:9464'),
  )
  .addOption(
    new Option(
      '--otlp-endpoint <url>',
      'push OTLP metrics to this collector (wins over $OTEL_EXPORTER_OTLP_ENDPOINT; see README "OpenTelemetry")',
    ).argParser(parseOtlpEndpoint),
  )
  .addOption(
    new Option('--poll-interval <duration>', 'how often to read the kernel counters').argParser(parsePollInterval).default(5000, '5s'),
  )
  .option('--bpffs <dir>', 'bpffs directory where counters are pinned (kept across restarts)', DEFAULT_BPFFS)
  .addOption(new Option('--node-name <name>', "this node's name (default: $NODE_NAME, else the host name)").env('NODE_NAME'))
  .addOption(
    new Option('--interfaces <globs>', 'comma-separated interface name globs to count per-pod traffic on (default: every veth)').argParser(
      parseGlobList,
    ),
  )
  .addOption(
    new Option('--tc-mode <mode>', 'how to attach tc programs: tcx (6.6+), clsact, or auto')
      .choices(['auto', 'tcx', 'clsact'])
      .default('auto'),
  )
  .addOption(new Option('--kubeconfig <path>', 'kubeconfig for the pod watch (default: in-cluster, else $KUBECONFIG, else no Kubernetes)'))
  .addOption(
    new Option('--max-endpoints <n>', `pods this node can attribute traffic to (1-${ENDPOINT_SLOTS})`)
      .argParser(parseMaxEndpoints)
      .default(1024),
  )
  .addOption(
    new Option('--deleted-pod-grace <duration>', "how long a deleted pod's final counts stay published")
      .argParser(parseDuration)
      .default(60_000, '60s'),
  )
  .addOption(
    new Option(
      '--drop-events-rate <n>',
      `drop events per second for the node, whichever CPUs drop (plus one second of burst), served at /api/v1/drops (0: none)`,
    )
      .argParser(parseEventRate)
      .default(DEFAULT_DROP_EVENTS_RATE),
  )
  .addOption(
    new Option(
      '--granularity <level>',
      'what per-pod series carry: pod (and its workload), workload (sums of its pods), namespace, or node (no pod labels)',
    )
      .argParser(parseChoice(GRANULARITIES))
      .default('pod'),
  )
  .addOption(
    new Option(
      '--namespaces <globs>',
      'only pods of these namespaces get pod labels (comma-separated globs; the rest count as node-level)',
    ).argParser(parseNamespaceGlobs),
  )
  .addOption(
    new Option('--exclude-namespaces <globs>', 'pods of these namespaces count as node-level (wins over --namespaces)').argParser(
      parseNamespaceGlobs,
    ),
  )
  .addOption(
    new Option(
      '--max-series <n>',
      'label sets per datapath metric and node loss family; past it, new ones are summed into one "overflow" series',
    )
      .argParser(parseMaxSeries)
      .default(DEFAULT_MAX_SERIES),
  )
  .addOption(ciliumMapOption())
  .addOption(
    new Option(
      '--cilium-endpoint-map <path>',
      "Cilium's pinned endpoint map, read only: names the pod behind each lxc interface in the interface loss series ('none' to skip)",
    ).default(CILIUM_ENDPOINTS_PIN),
  )
  .addOption(ciliumReleaseOption())
  .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error').argParser(parseLogLevel).default('info'))
  .addOption(
    new Option(
      '--web-config-file <path>',
      'TLS, basic auth and headers for /metrics and /api/v1/drops (Prometheus exporter-toolkit format)',
    ),
  )
  .addOption(
    new Option(
      '--metrics-auth <mode>',
      'who may read /metrics and /api/v1/drops: none, or kubernetes (bearer token: TokenReview + SubjectAccessReview)',
    )
      .argParser(parseChoice(METRICS_AUTH_MODES))
      .default('none'),
  )
  .addOption(
    new Option('--metrics-auth-allowed-ttl <duration>', 'how long an allowed token is remembered (0s: ask every time)')
      .argParser(parseDuration)
      .default(120_000, '2m'),
  )
  .addOption(
    new Option('--metrics-auth-denied-ttl <duration>', 'how long a refused token is remembered (0s: ask every time)')
      .argParser(parseDuration)
      .default(30_000, '30s'),
  )
  .action(async (opts: RunFlags, cmd: Command) => {
    const old = kernelTooOld();
    if (old) usage(old);
    const { runCommand } = await import('./run-command.js');
    await runCommand(opts, cmd);
  });

program
  .command('list')
  .description("print the live counters of the agent from its pinned maps (and Cilium's)")
  .option('--bpffs <dir>', 'bpffs directory of the agent', DEFAULT_BPFFS)
  .addOption(
    new Option('-o, --output <format>', 'table, json, or cilium (the layout of `cilium bpf metrics list`)')
      .argParser(parseChoice(LIST_FORMATS))
      .default('table'),
  )
  .addOption(ciliumMapOption())
  .addOption(ciliumReleaseOption())
  .action(async (opts: { bpffs: string; output: ListFormat; ciliumMetricsMap: string; ciliumRelease: CiliumRelease }) => {
    const [{ formatRows, readCiliumRows, readPinnedRows }, { BpfError }, { explain }, { createLogger }] = await Promise.all([
      import('./list-command.js'),
      import('../bpf/errors.js'),
      import('./known-failures.js'),
      import('../log/logger.js'),
    ]);
    try {
      const log = createLogger('warn');
      const rows = [
        ...readPinnedRows(opts.bpffs),
        ...(opts.ciliumMetricsMap === 'none' ? [] : readCiliumRows(opts.ciliumMetricsMap, opts.ciliumRelease, log)),
      ];
      const text = formatRows(rows, opts.output);
      if (text === '') process.stderr.write('No entries found.\n');
      process.stdout.write(text);
    } catch (err) {
      if (err instanceof BpfError && err.errno === 2)
        fail(`no pinned counters under ${opts.bpffs}: is the agent running (datapath-exporter run)?`);
      explain(err);
    }
  });

program
  .command('observe')
  .description('print the drops a running agent saw, one line each (from its /api/v1/drops)')
  .addOption(
    new Option('--addr <host:port>', 'the agent to ask')
      .argParser(parseAgentAddress)
      .default(parseAgentAddress('127.0.0.1:9464'), '127.0.0.1:9464'),
  )
  .option('-f, --follow', 'keep printing new drops as they come (Ctrl-C to stop)', false)
  .option('-n, --namespace <namespace>', 'only drops of pods in this namespace (either end)')
  .option('--pod <name>', 'only drops of this pod (either end)')
  .option('--reason <reason>', 'only this drop reason (NO_SOCKET, NETFILTER_DROP, ...)')
  .addOption(new Option('--direction <direction>', 'only this direction').choices(['ingress', 'egress', 'unknown']))
  .option('--since <time>', 'only drops since an RFC 3339 time or a duration ago (30s, 1m30s)')
  .addOption(
    new Option('-o, --output <format>', 'table or json (one event per line)').argParser(parseChoice(OBSERVE_FORMATS)).default('table'),
  )
  .option('--tls', 'the agent serves https (a --web-config-file with tls_server_config)', false)
  .option('--insecure', "with --tls: do not verify the agent's certificate", false)
  .option('--token <token>', 'bearer token for an agent with --metrics-auth kubernetes (default: $DATAPATH_EXPORTER_TOKEN)')
  .option('--cacert <file>', "with --tls: trust this CA (PEM) for the agent's certificate")
  .option('--cert <file>', 'with --tls: present this client certificate (PEM; needs --key)')
  .option('--key <file>', "with --tls: the client certificate's private key (PEM)")
  .addOption(
    new Option('--user <name>', 'basic auth user for an agent with basic_auth_users (password: $DATAPATH_EXPORTER_PASSWORD)').conflicts(
      'token',
    ),
  )
  .action(async (opts: ObserveOptions) => {
    try {
      await observe({ ...opts, token: opts.token ?? process.env.DATAPATH_EXPORTER_TOKEN }, process.stdout);
    } catch (err) {
      if (err instanceof AgentUnreachable) fail(err.message);
      throw err;
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
