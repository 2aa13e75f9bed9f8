// A native library's functions, bound at the first call rather than at import:
// importing a module that declares FFI functions then costs nothing and needs
// no library on the machine (the unit tier runs without libbpf or root).

/** An object of functions that `bind` makes (koffi.load + func) on first property access. */
export function lazyBinding<T extends object>(bind: () => T): T {
  let bound: T | undefined;
  return new Proxy({} as T, {
    get: (_target, name) => Reflect.get((bound ??= bind()), name),
  });
}
