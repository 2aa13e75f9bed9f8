// Where the agent's start-up memory goes: imports the agent's heavy
// dependencies one at a time and prints the process RSS after each step as
// JSON lines. Run as a child by bench/agent.ts (fresh process, fixed order:
// each figure is what that step adds on top of the previous ones).
const rss = () => process.memoryUsage().rss / 1e6;
const steps: Array<{ step: string; rssMb: number }> = [{ step: 'node, empty', rssMb: rss() }];
const mark = (step: string) => steps.push({ step, rssMb: rss() });

const { DropReasonNames } = await import('../../src/bpf/drop-reasons.js'); // koffi, libbpf.so
mark('koffi + libbpf binding');
await import('@opentelemetry/sdk-metrics');
await import('@opentelemetry/exporter-prometheus');
mark('OTel sdk-metrics + exporter-prometheus');
await import('pino');
mark('pino');
await import('#kubernetes-client');
mark("@kubernetes/client-node (the agent's bundle of it, #kubernetes-client)");
DropReasonNames.fromRunningKernel();
mark('drop reason names from the kernel BTF');
const { Kallsyms } = await import('../../src/collect/kallsyms.js');
new Kallsyms().addressesVisible();
mark('kernel symbols (/proc/kallsyms, read once)');
await import('../../src/agent.js');
mark('the rest of the agent (src/agent.js)');
process.stdout.write(JSON.stringify(steps));
