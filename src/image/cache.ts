/**
 * A small least-recently-used cache of loads in flight or done, bounded by
 * total bytes. Concurrent readers asking for the same L2 table (or compressed
 * cluster) share one read; a failed load is forgotten so it is retried.
 */
export class LruCache<K, V extends { length: number }> {
  private readonly entries = new Map<K, Promise<V>>();
  private readonly sizes = new Map<K, number>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Re-insert: Map keeps insertion order, so the oldest key is the first.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const promise = load();
    this.entries.set(key, promise);
    promise.then(
      (value) => {
        if (this.entries.get(key) !== promise) return;
        this.sizes.set(key, value.length);
        this.bytes += value.length;
        this.evict();
      },
      () => {
        if (this.entries.get(key) === promise) this.entries.delete(key);
      },
    );
    return promise;
  }

  clear(): void {
    this.entries.clear();
    this.sizes.clear();
    this.bytes = 0;
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes || this.entries.size <= 1) return;
      const size = this.sizes.get(key);
      if (size === undefined) continue; // Still loading: not counted yet.
      this.entries.delete(key);
      this.sizes.delete(key);
      this.bytes -= size;
    }
  }
}
