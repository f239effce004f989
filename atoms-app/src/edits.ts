/**
 * Sending canvas edits: each user action is one `state.patch` (so it is one undo step), awaited
 * until its event is applied here; failures become a short message for the person. A viewer's
 * page sends none (the server would refuse them: its identity has no `write` scope).
 */
import { type CanvasTransport, CommandError, type PatchOperation } from '@atoms-realtime/ui';
import { createOps, hasShapesContainer, type Shape } from './model.js';

export class Edits {
  constructor(
    private readonly transport: CanvasTransport,
    private readonly notify: (message: string) => void,
    private readonly readOnly = false,
  ) {}

  /** Sends one state.patch and waits until its event was applied here; false when it failed. */
  async patch(what: string, ops: PatchOperation[]): Promise<boolean> {
    if (ops.length === 0) return true;
    if (this.readOnly) return this.viewOnly(what);
    try {
      const result = await this.transport.command('state.patch', { ops });
      await this.transport.waitForSeq(result.seq);
      return true;
    } catch (err) {
      this.failed(what, err);
      return false;
    }
  }

  /** Adds shapes in one patch (one undo step). */
  async add(what: string, shapes: readonly Shape[]): Promise<boolean> {
    if (this.readOnly) return this.viewOnly(what);
    try {
      await this.ensureContainer();
    } catch (err) {
      this.failed(what, err);
      return false;
    }
    return this.patch(what, createOps(shapes));
  }

  /**
   * Creates `/shapes` on a fresh canvas, with a base version so two first shapes never overwrite
   * each other's container (on a 409 the state catches up and shows it exists). It is a command of
   * its own, so undoing the first shape removes just that shape, not everyone's container.
   */
  private async ensureContainer(): Promise<void> {
    for (let attempt = 0; !hasShapesContainer(this.transport.getState()); attempt++) {
      try {
        const result = await this.transport.command(
          'state.patch',
          { ops: [{ op: 'add', path: '/shapes', value: {} }] },
          { baseVersion: this.transport.getVersion() },
        );
        await this.transport.waitForSeq(result.seq);
      } catch (err) {
        if (!(err instanceof CommandError && err.isConflict && attempt < 5)) throw err;
        await this.versionAtLeast(err.currentVersion ?? 0);
      }
    }
  }

  private viewOnly(what: string): false {
    this.notify(`could not ${what}: you are viewing this canvas (read only)`);
    return false;
  }

  failed(what: string, err: unknown): void {
    const gone = err instanceof CommandError && err.code === 'patch_failed';
    this.notify(gone ? `could not ${what}: the shape was changed or deleted by someone else` : `could not ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }

  private versionAtLeast(version: number): Promise<void> {
    if (this.transport.getVersion() >= version) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        off();
        clearTimeout(timer);
        resolve();
      };
      const off = this.transport.subscribe(({ version: v }) => v >= version && done());
      const timer = setTimeout(done, 2000);
    });
  }
}
