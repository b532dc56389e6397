/**
 * SIGINT, SIGTERM and SIGHUP (and a closed stdout) for a CLI run. A command that can stop cleanly (put a VM
 * back, remove what it wrote) takes the signal with `take()` and is told
 * through it; a command that has not taken it is stopped at once. A second
 * signal always stops at once.
 *
 * The same AbortSignal also fires, at the latest, when the process ends
 * (`end()`, from the executable's 'exit' hook): library code that started
 * something outside the process (a qemu-nbd) listens to it and tidies up
 * synchronously, so nothing outlives the executable even when it is stopped
 * at once.
 */
export class Interrupt {
  private readonly controller = new AbortController();
  private taken = false;

  /** Fires on the first signal or when the process ends; reading it does not take it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The signal a command stops on; taking it means the command will clean up and return. */
  take(): AbortSignal {
    this.taken = true;
    return this.controller.signal;
  }

  /**
   * A signal arrived: 'graceful' when a command has taken it and is now told,
   * 'now' when the process should exit at once.
   */
  fire(): 'graceful' | 'now' {
    if (!this.taken || this.controller.signal.aborted) {
      this.end();
      return 'now';
    }
    this.controller.abort(new Error('interrupted'));
    return 'graceful';
  }

  /** The process is ending: whatever listens to the signal tidies up now (synchronously). */
  end(): void {
    if (!this.controller.signal.aborted) this.controller.abort(new Error('exiting'));
  }

  /**
   * A stop nobody insisted on (SIGHUP: the terminal went away; a closed
   * stdout): like the first signal, but never the second, so it cannot cut
   * short a cleanup already under way ('ignored' then).
   */
  request(): 'graceful' | 'now' | 'ignored' {
    if (this.taken && this.controller.signal.aborted) return 'ignored';
    return this.fire();
  }
}
