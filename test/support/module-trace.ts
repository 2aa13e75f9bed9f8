// Loaded with `node --import` before a program: records every module the
// program imports (file URLs and builtins) and writes them, one a line, to
// $MODULE_TRACE_FILE at exit. Shows what a command line loads before it
// refuses, without timing anything.
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';

const loaded: string[] = [];
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    loaded.push(r.url);
    return r;
  },
});
process.on('exit', () => {
  const file = process.env.MODULE_TRACE_FILE;
  if (file) writeFileSync(file, `${loaded.join('\n')}\n`);
});
