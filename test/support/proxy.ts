/**
 * A loopback TCP proxy in front of the real libvirtd socket, with switches a
 * test flips to make the daemon look dead: `cut()` drops every connection
 * (a daemon that dies mid-call), `blackhole()` stops forwarding to the daemon
 * while keeping the socket open (a call that never returns), `holdRequests()`
 * keeps what the client sends until `flush()` or `release()` (a barrier a test
 * stops a CLI process at, at its next libvirt call). It also gives the
 * client's TCP transport a real daemon to talk to without reconfiguring the
 * host's libvirtd.
 */
import * as net from 'node:net';

export class DaemonProxy {
  private readonly sockets = new Set<net.Socket>();
  private swallowing = false;
  /** Client-to-daemon bytes kept while holding, in order, with where they go. */
  private held: { to: net.Socket; data: Buffer }[] | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target = '/run/libvirt/libvirt-sock'): Promise<DaemonProxy> {
    // eslint-disable-next-line prefer-const -- assigned once the server is listening
    let proxy: DaemonProxy | undefined;
    const server = net.createServer((client) => {
      const upstream = net.createConnection({ path: target });
      proxy!.sockets.add(client).add(upstream);
      client.on('data', (d: Buffer) => {
        if (proxy!.swallowing) return;
        if (proxy!.held) proxy!.held.push({ to: upstream, data: d });
        else upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!proxy!.swallowing) client.write(d);
      });
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end).on('error', end);
      upstream.on('close', end).on('error', end);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new DaemonProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  /** Drops every connection, as a daemon that crashes does. */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** From now on nothing passes in either direction, but sockets stay open. */
  blackhole(): void {
    this.swallowing = true;
  }

  /** From now on what clients send waits in the proxy; replies and events still pass. */
  holdRequests(): void {
    this.held ??= [];
  }

  /** Sends what was held so far and goes on holding. */
  flush(): void {
    const held = this.held ?? [];
    if (this.held) this.held = [];
    for (const { to, data } of held) if (!to.destroyed) to.write(data);
  }

  /** Sends what was held and stops holding. */
  release(): void {
    this.flush();
    this.held = undefined;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
