// Triton's system shared-memory extension: a client on the same host puts a tensor in a POSIX
// shared-memory object (/dev/shm/<key>), registers a region of it by name, and names the region in
// place of the tensor's bytes; outputs can be written back the same way. The tensor never crosses
// the socket. Node cannot map memory, so a region is read and written with pread/pwrite on the
// object's file (one copy, in the thread pool, off the event loop).
//
// Regions belong to the caller that registered them (a tenant, or 'anonymous' on an open server):
// a tenant sees, uses and unregisters only its own, and a key one tenant holds cannot be
// registered by another. Off unless the server is started with --allow-client-shm, as in Triton:
// any caller with a key could otherwise have the server read or write the host's shared memory.
import { closeSync, constants, fstatSync, openSync, read, write } from 'node:fs';
import { join } from 'node:path';
import { SharedMemoryError } from '../errors.js';
import type { ParameterValue } from '../protocol/types.js';

/** Where a tensor lies in a registered region. */
export interface SharedMemoryRef {
  region: string;
  offset: number;
  byteSize: number;
}

/** A region as Triton's status call reports it. */
export interface RegionStatus {
  name: string;
  key: string;
  offset: number;
  byte_size: number;
}

interface Region extends RegionStatus {
  owner: string;
  path: string;
  fd: number;
  writable: boolean;
  /** Reads and writes in flight: the file is closed when the last one ends after unregistering. */
  users: number;
  unregistered: boolean;
}

export interface SharedMemoryOptions {
  /** Where the system's POSIX shared-memory objects live. */
  dir?: string;
  /** Regions one caller may hold at once (each holds a file descriptor). */
  maxRegionsPerOwner?: number;
  /** The most bytes one request may read from regions, as --max-body-bytes bounds a body. */
  maxRequestBytes?: number;
}

/** A POSIX shared-memory name: one path component, as shm_open takes it (a leading '/' optional). */
const KEY = /^\/?([A-Za-z0-9._:@+-]{1,255})$/;
const NAME_CHARS = 256;

/** The shared-memory parameters of one input or requested output, or undefined when it has none. */
export function sharedMemoryRef(what: string, params: Record<string, ParameterValue> | undefined): SharedMemoryRef | undefined {
  const region = params?.shared_memory_region;
  const byteSize = params?.shared_memory_byte_size;
  const offset = params?.shared_memory_offset ?? 0;
  if (region === undefined && byteSize === undefined) return undefined;
  if (typeof region !== 'string' || region.length === 0) throw SharedMemoryError.invalid(`${what}: shared_memory_byte_size needs shared_memory_region, a region's name`);
  if (byteSize === undefined) throw SharedMemoryError.invalid(`${what}: shared_memory_region needs shared_memory_byte_size`);
  const count = (v: ParameterValue, param: string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw SharedMemoryError.invalid(`${what}: ${param} must be a non-negative integer`);
    return v;
  };
  return { region, byteSize: count(byteSize, 'shared_memory_byte_size'), offset: count(offset, 'shared_memory_offset') };
}

export class SharedMemoryRegions {
  private readonly regions = new Map<string, Region>();
  /** Which owner holds each object path, and in how many regions. */
  private readonly holders = new Map<string, { owner: string; regions: number }>();
  private readonly dir: string;
  private readonly maxRegionsPerOwner: number;
  readonly maxRequestBytes: number;

  constructor(opts: SharedMemoryOptions = {}) {
    this.dir = opts.dir ?? '/dev/shm';
    this.maxRegionsPerOwner = opts.maxRegionsPerOwner ?? 64;
    this.maxRequestBytes = opts.maxRequestBytes ?? 64 * 1024 * 1024;
  }

  register(owner: string, name: string, key: string, offset: number, byteSize: number): void {
    if (typeof name !== 'string' || name.length === 0 || name.length > NAME_CHARS) throw SharedMemoryError.invalid(`a region's name must be 1 to ${NAME_CHARS} characters`);
    const m = typeof key === 'string' ? KEY.exec(key) : null;
    if (!m || m[1] === '.' || m[1] === '..') throw SharedMemoryError.invalid(`key '${String(key).slice(0, 80)}' is not a POSIX shared-memory name ('/name', one component of letters, digits and ._:@+-)`);
    for (const [v, what] of [[offset, 'offset'], [byteSize, 'byte_size']] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw SharedMemoryError.invalid(`${what} must be a non-negative integer`);
    }
    if (byteSize === 0) throw SharedMemoryError.invalid('byte_size must be positive');
    if (this.regions.has(id(owner, name))) throw SharedMemoryError.exists(name);
    const path = join(this.dir, m[1]);
    const holder = this.holders.get(path);
    // Another tenant's object: refused like one that is not there, so the answer tells nothing.
    if (holder && holder.owner !== owner) throw SharedMemoryError.invalid(`key '${key}' names no shared-memory object this caller can register`);
    if (this.countOf(owner) >= this.maxRegionsPerOwner) throw SharedMemoryError.invalid(`this caller already holds ${this.maxRegionsPerOwner} regions; unregister some first`);

    const { fd, writable } = openObject(path, key);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw SharedMemoryError.invalid(`key '${key}' is not a shared-memory object`);
      if (offset + byteSize > stat.size) throw SharedMemoryError.invalid(`region [${offset}, ${offset + byteSize}) runs past the end of '${key}' (${stat.size} bytes)`);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.regions.set(id(owner, name), { owner, name, key, offset, byte_size: byteSize, path, fd, writable, users: 0, unregistered: false });
    this.holders.set(path, { owner, regions: (holder?.regions ?? 0) + 1 });
  }

  /** The caller's regions, or the one named (404 when it has none of that name). */
  status(owner: string, name?: string): RegionStatus[] {
    if (name) {
      const r = this.regions.get(id(owner, name));
      if (!r) throw SharedMemoryError.notFound(name);
      return [statusOf(r)];
    }
    return [...this.regions.values()].filter((r) => r.owner === owner).map(statusOf);
  }

  /** The named region, or every region of the caller; a name it does not hold is not an error, as in Triton. */
  unregister(owner: string, name?: string): void {
    for (const r of name ? [this.regions.get(id(owner, name))] : [...this.regions.values()].filter((x) => x.owner === owner)) {
      if (r) this.drop(r);
    }
  }

  /** A tensor's bytes from a region, checked against the region's bounds (the caller holds a request to maxRequestBytes). */
  async read(owner: string, ref: SharedMemoryRef, what: string): Promise<Buffer> {
    const r = this.use(owner, ref, what);
    try {
      const buf = Buffer.allocUnsafeSlow(ref.byteSize);
      let done = 0;
      while (done < ref.byteSize) {
        const n = await new Promise<number>((resolve, reject) => read(r.fd, buf, done, ref.byteSize - done, r.offset + ref.offset + done, (e, bytes) => (e ? reject(e) : resolve(bytes))));
        // The object was truncated after registering: refuse rather than hand on zeros.
        if (n === 0) throw SharedMemoryError.invalid(`${what}: region '${ref.region}' is shorter than registered ('${r.key}' was truncated)`);
        done += n;
      }
      return buf;
    } finally {
      this.release(r);
    }
  }

  /** Writes an output into a region; it must fit in the size the request gave. */
  async write(owner: string, ref: SharedMemoryRef, bytes: Uint8Array, what: string): Promise<void> {
    const r = this.use(owner, ref, what);
    try {
      if (bytes.byteLength > ref.byteSize) throw SharedMemoryError.invalid(`${what} is ${bytes.byteLength} bytes, more than its shared_memory_byte_size of ${ref.byteSize}`);
      if (!r.writable) throw SharedMemoryError.invalid(`${what}: '${r.key}' is read-only to the server`);
      let done = 0;
      while (done < bytes.byteLength) {
        done += await new Promise<number>((resolve, reject) => write(r.fd, bytes, done, bytes.byteLength - done, r.offset + ref.offset + done, (e, n) => (e ? reject(e) : resolve(n))));
      }
    } finally {
      this.release(r);
    }
  }

  /** Unregisters everything (the server is closing). */
  close(): void {
    for (const r of [...this.regions.values()]) this.drop(r);
  }

  /** The caller's region that `ref` lies within (404 when it holds none of that name, 400 when outside it). */
  check(owner: string, ref: SharedMemoryRef, what: string): void {
    this.lookup(owner, ref, what);
  }

  private lookup(owner: string, ref: SharedMemoryRef, what: string): Region {
    const r = this.regions.get(id(owner, ref.region));
    if (!r) throw SharedMemoryError.notFound(ref.region);
    if (ref.offset + ref.byteSize > r.byte_size) throw SharedMemoryError.invalid(`${what}: [${ref.offset}, ${ref.offset + ref.byteSize}) is outside region '${ref.region}' of ${r.byte_size} bytes`);
    return r;
  }

  private use(owner: string, ref: SharedMemoryRef, what: string): Region {
    const r = this.lookup(owner, ref, what);
    r.users++;
    return r;
  }

  private release(r: Region): void {
    if (--r.users === 0 && r.unregistered) closeSync(r.fd);
  }

  private drop(r: Region): void {
    this.regions.delete(id(r.owner, r.name));
    r.unregistered = true;
    const holder = this.holders.get(r.path)!;
    if (--holder.regions === 0) this.holders.delete(r.path);
    // A read in flight keeps the descriptor until it ends (a closed fd number could be reused).
    if (r.users === 0) closeSync(r.fd);
  }

  private countOf(owner: string): number {
    let n = 0;
    for (const r of this.regions.values()) if (r.owner === owner) n++;
    return n;
  }
}

const id = (owner: string, name: string) => `${owner}\0${name}`;
const statusOf = ({ name, key, offset, byte_size }: Region): RegionStatus => ({ name, key, offset, byte_size });

/** Opens the object itself, never a link to something else; read-only when that is all it allows. */
function openObject(path: string, key: string): { fd: number; writable: boolean } {
  const flags = constants.O_NOFOLLOW | constants.O_NONBLOCK;
  try {
    return { fd: openSync(path, constants.O_RDWR | flags), writable: true };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS') {
      try {
        return { fd: openSync(path, constants.O_RDONLY | flags), writable: false };
      } catch { /* reported below */ }
    }
    // Not there, a link (ELOOP), or not permitted: one answer, naming only the key.
    throw SharedMemoryError.invalid(`key '${key}' names no shared-memory object this caller can register (${code ?? 'error'})`);
  }
}
