// Name globs as the flags take them (--interfaces, --namespaces): only * and
// ? are special, and a glob matches the whole name.

/** "veth*,lxc*" (split) -> matcher. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(
    (g) =>
      new RegExp(
        `^${g
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ),
  );
  return (name) => res.some((r) => r.test(name));
}
