// Mocha's spec output, closed by the plain line CI reads: "N passed, N failed".
import Mocha from 'mocha';

const { EVENT_RUN_END } = Mocha.Runner.constants;

export default class CountReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      // Printed after Spec's epilogue (registered first), so it is the last line.
      process.nextTick(() => {
        const skipped = s.pending > 0 ? `, ${s.pending} skipped` : '';
        console.log(`${s.passes} passed, ${s.failures} failed${skipped}`);
      });
    });
  }
}
