/**
 * A small LRU of open read handles, for the local backend's getRange (issue #4: a restore
 * opened and closed its pack once per 256 KiB chunk, about 4,096 times per GiB).
 *
 * Handles are counted while in use: one evicted (or invalidated) in the middle of a read
 * closes when that read ends, so concurrent positional reads on one handle are safe. At most
 * `max` handles are cached; more are open only while reads still hold evicted ones. A handle
 * unused for `idleMs` is closed, so a long-lived process does not pin files deleted by
 * someone else (a garbage collector in another process) for longer than that.
 *
 * What a handle reads is the object as it was when the handle was opened. The owner calls
 * invalidate() after its own writes and deletes; changes made behind its back are seen once
 * the handle is dropped. That is harmless for a repository, whose objects read by range
 * (packs, runs, fixed indexes) never change under their names.
 */

export interface Closable {
  close(): Promise<void>;
}

interface Entry<H> {
  readonly handle: Promise<H>;
  users: number;
  /** Out of the cache: closes once users reaches 0. */
  dropped: boolean;
  idleSince: number;
}

export interface HandleCacheOptions {
  /** How many handles stay open at most; 0 disables caching (every use opens and closes). */
  max: number;
  /** How long an unused handle stays open, in milliseconds. */
  idleMs: number;
}

export class HandleCache<H extends Closable> {
  private readonly entries = new Map<string, Entry<H>>();
  private readonly closing = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly open: (key: string) => Promise<H>,
    private readonly options: HandleCacheOptions,
  ) {}

  /** How many handles are cached (open or opening). */
  get size(): number {
    return this.entries.size;
  }

  /** Runs fn with an open handle for key; the handle stays cached for the next call. */
  async use<T>(key: string, fn: (handle: H) => Promise<T>): Promise<T> {
    if (this.closed || this.options.max <= 0) {
      const handle = await this.open(key);
      try {
        return await fn(handle);
      } finally {
        await handle.close();
      }
    }
    const entry = this.acquire(key);
    try {
      return await fn(await entry.handle);
    } finally {
      this.release(entry);
    }
  }

  /** Forgets the handle for key (after the object was replaced or deleted). */
  invalidate(key: string): void {
    const entry = this.entries.get(key);
    if (entry) this.drop(key, entry);
  }

  /** Closes every cached handle; one still in use closes when its read ends. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [key, entry] of [...this.entries]) this.drop(key, entry);
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  private acquire(key: string): Entry<H> {
    let entry = this.entries.get(key);
    if (entry) {
      // Most recently used goes last; eviction takes from the front.
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      const created: Entry<H> = {
        handle: this.open(key),
        users: 0,
        dropped: false,
        idleSince: 0,
      };
      // Registered before any caller awaits the handle, so a failed open (a missing
      // object) leaves the cache before anyone can ask for it again.
      created.handle.catch(() => {
        if (this.entries.get(key) === created) this.drop(key, created);
      });
      entry = created;
      this.entries.set(key, entry);
      for (const [oldKey, old] of this.entries) {
        if (this.entries.size <= this.options.max) break;
        this.drop(oldKey, old);
      }
    }
    entry.users++;
    return entry;
  }

  private release(entry: Entry<H>): void {
    entry.users--;
    if (entry.users > 0) return;
    if (entry.dropped) this.closeHandle(entry);
    else {
      entry.idleSince = Date.now();
      this.armIdleTimer();
    }
  }

  private drop(key: string, entry: Entry<H>): void {
    if (this.entries.get(key) === entry) this.entries.delete(key);
    if (entry.dropped) return;
    entry.dropped = true;
    if (entry.users === 0) this.closeHandle(entry);
  }

  private closeHandle(entry: Entry<H>): void {
    const done = entry.handle
      .then((h) => h.close())
      .catch(() => undefined)
      .finally(() => this.closing.delete(done));
    this.closing.add(done);
  }

  private armIdleTimer(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      let idle = false;
      for (const [key, entry] of [...this.entries]) {
        if (entry.users > 0) continue;
        if (now - entry.idleSince >= this.options.idleMs) this.drop(key, entry);
        else idle = true;
      }
      if (idle) this.armIdleTimer();
    }, this.options.idleMs);
    // Never what keeps a process alive.
    this.timer.unref();
  }
}
