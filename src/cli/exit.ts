// How the command line ends on an error: one line on stderr; usage errors
// (and a kernel too old to run on) exit 2, missing privileges or features 1.
export function usage(message: string): never {
  process.stderr.write(`datapath-exporter: ${message}\n`);
  process.exit(2);
}

export function fail(message: string): never {
  process.stderr.write(`datapath-exporter: ${message}\n`);
  process.exit(1);
}
