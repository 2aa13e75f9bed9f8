// The few libc calls the agent makes through koffi: close, flock,
// if_nametoindex, vsnprintf (formatting libbpf's messages), and the socket
// calls of the rtnetlink dump (src/os/rtnetlink.ts) that finds pod interfaces
// in-process instead of spawning `ip` every poll. Bound on first use.
import koffi from 'koffi';
import { lazyBinding } from './lazy-binding.js';

/** A socket's file descriptor (not a BPF object's). */
export type SocketFd = number & { readonly __brand: 'socket_fd' };

export const libc = lazyBinding(() => {
  const lib = koffi.load('libc.so.6');
  return {
    close: lib.func('int close(int fd)') as (fd: number) => number,
    flock: lib.func('int flock(int fd, int operation)') as (fd: number, op: number) => number,
    if_nametoindex: lib.func('unsigned int if_nametoindex(const char *ifname)') as (name: string) => number,
    vsnprintf: lib.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *ap)') as (
      buf: Buffer,
      size: number,
      fmt: string,
      ap: Buffer | bigint,
    ) => number,
    socket: lib.func('int socket(int domain, int type, int protocol)') as (domain: number, type: number, protocol: number) => number,
    bind: lib.func('int bind(int fd, const void *addr, uint32_t addrlen)') as (fd: SocketFd, addr: Buffer, addrlen: number) => number,
    setsockopt: lib.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)') as (
      fd: SocketFd,
      level: number,
      optname: number,
      optval: Buffer,
      optlen: number,
    ) => number,
    // ssize_t results: bytes, or -1 with errno.
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *dest, uint32_t addrlen)') as (
      fd: SocketFd,
      buf: Buffer,
      len: number,
      flags: number,
      dest: Buffer,
      addrlen: number,
    ) => number,
    recv: lib.func('intptr_t recv(int fd, _Out_ void *buf, size_t len, int flags)') as (
      fd: SocketFd,
      buf: Buffer,
      len: number,
      flags: number,
    ) => number,
  };
});

/** errno of the last FFI call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/** Index of a network interface by name; 0 when there is none. */
export function ifNameToIndex(name: string): number {
  return libc.if_nametoindex(name);
}

/** Closes a socket this process opened. */
export function closeSocket(fd: SocketFd): void {
  libc.close(fd);
}

const LOCK_EX = 2;
const LOCK_NB = 4;
/** Takes an exclusive, non-blocking flock on fd; false when another holds it. */
export function tryLockExclusive(fd: number): boolean {
  return libc.flock(fd, LOCK_EX | LOCK_NB) === 0;
}
