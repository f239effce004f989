/**
 * Per-user undo/redo history. Only this transport's own `state.patch` commands are recorded:
 * each step holds the inverses of its commands, learnt when their events are applied (so from
 * the exact state before them, whatever others did meanwhile). Changes by others are never in it.
 */
import { CommandError } from './errors.js';
import type { HistoryChange, UndoDirection, UndoOutcome, UndoSkipped } from './events.js';
import type { CommandResult, PatchOperation } from './types.js';

/** How the history sends an undo / redo: as an ordinary state.patch command of this transport. */
export interface UndoSender {
  send(ops: PatchOperation[], kind: UndoDirection): Promise<CommandResult>;
  waitForSeq(seq: number): Promise<void>;
  skipped(e: UndoSkipped): void;
}

/** What sent a command: a user's change, an undo, or a redo. */
export type StepKind = 'do' | 'undo' | 'redo';

/** Steps kept per stack; older ones are forgotten (bounded memory). */
export const HISTORY_LIMIT = 200;

interface Part {
  commandId: string;
  /** Where the server committed it, once acknowledged. */
  seq: number | undefined;
  inverse: PatchOperation[] | undefined;
  settled: boolean;
}

/** One undo step: the commands of one gesture (one command, or all of a `batch`). */
export class UndoStep {
  readonly parts: Part[] = [];
  private waiters: (() => void)[] = [];

  get settled(): boolean {
    return this.parts.every((p) => p.settled);
  }

  /** Resolves once every command of the step was applied or refused. */
  ready(): Promise<void> {
    if (this.settled) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The patch undoing the whole step: each command's guarded inverse, last command first. */
  inverse(): PatchOperation[] {
    const out: PatchOperation[] = [];
    for (let i = this.parts.length - 1; i >= 0; i--) out.push(...(this.parts[i]?.inverse ?? []));
    return out;
  }

  settle(part: Part, inverse: PatchOperation[] | undefined): void {
    part.inverse = inverse;
    part.settled = true;
    if (!this.settled) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export class UndoHistory {
  private readonly undoStack: UndoStep[] = [];
  private readonly redoStack: UndoStep[] = [];
  /** Commands whose event has not been applied yet. */
  private readonly waiting = new Map<string, { step: UndoStep; part: Part }>();
  private batchDepth = 0;
  private batchStep: UndoStep | undefined;
  private last: HistoryChange = { canUndo: false, canRedo: false };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly onChange: (change: HistoryChange) => void) {}

  get canUndo(): boolean {
    return this.undoStack.length > 0;
  }

  get canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  /** Until the matching endBatch(), every `do` command joins one step. Nests. */
  beginBatch(): void {
    this.batchDepth++;
  }

  endBatch(): void {
    this.batchDepth = Math.max(0, this.batchDepth - 1);
    if (this.batchDepth === 0) this.batchStep = undefined;
  }

  /** A `state.patch` command of this transport was issued. */
  track(commandId: string, kind: StepKind): void {
    let step: UndoStep;
    if (kind === 'do') {
      this.redoStack.length = 0;
      if (this.batchDepth > 0 && this.batchStep) step = this.batchStep;
      else {
        step = this.push(this.undoStack);
        if (this.batchDepth > 0) this.batchStep = step;
      }
    } else {
      // an undo's inverse is a redo step, a redo's inverse an undo step
      step = this.push(kind === 'undo' ? this.redoStack : this.undoStack);
    }
    const part: Part = { commandId, seq: undefined, inverse: undefined, settled: false };
    step.parts.push(part);
    this.waiting.set(commandId, { step, part });
    this.changed();
  }

  isTracked(commandId: string): boolean {
    return this.waiting.has(commandId);
  }

  /** The command's event was applied; `inverse` undoes it from the state it produced. */
  applied(commandId: string, inverse: PatchOperation[]): void {
    this.settle(commandId, inverse);
  }

  /** The server refused the command (nothing to undo), or its event will never be applied here. */
  dropped(commandId: string): void {
    this.settle(commandId, undefined);
  }

  /** The server accepted the command at `seq`; if this tab is already past it, it was never applied here. */
  acked(commandId: string, seq: number, appliedSeq: number): void {
    const w = this.waiting.get(commandId);
    if (!w) return;
    w.part.seq = seq;
    if (seq <= appliedSeq) this.dropped(commandId);
  }

  /** A snapshot replaced the state up to `seq`: commands committed up to there are never applied here. */
  skippedTo(seq: number): void {
    for (const [id, w] of [...this.waiting]) if (w.part.seq !== undefined && w.part.seq <= seq) this.dropped(id);
  }

  /**
   * Undoes (redoes) the latest step: waits until all its commands were applied, sends its guarded
   * inverse, and resolves once that was applied. Runs one after the other, so inverses reach the
   * server in order. A refusal (the step no longer applies) drops the step: `skipped`.
   */
  run(direction: UndoDirection, sender: UndoSender): Promise<UndoOutcome> {
    const run = this.chain.then(() => this.runOne(direction, sender));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async runOne(direction: UndoDirection, sender: UndoSender): Promise<UndoOutcome> {
    for (;;) {
      const step = this.pop(direction);
      if (!step) return 'empty';
      await step.ready();
      const ops = step.inverse();
      if (ops.length === 0) continue; // all its commands were refused: nothing to undo there
      try {
        await sender.waitForSeq((await sender.send(ops, direction)).seq);
        return 'applied';
      } catch (err) {
        if (err instanceof CommandError && err.status >= 400 && err.status < 500) {
          sender.skipped({ direction, reason: err.code, detail: err.problem?.detail ?? err.message });
          return 'skipped';
        }
        this.restore(direction, step); // not refused (e.g. a server error): keep it for another try
        throw err;
      }
    }
  }

  /** Takes the most recent step of one stack (for undo / redo). */
  private pop(kind: UndoDirection): UndoStep | undefined {
    const step = (kind === 'undo' ? this.undoStack : this.redoStack).pop();
    this.changed();
    return step;
  }

  private restore(kind: UndoDirection, step: UndoStep): void {
    (kind === 'undo' ? this.undoStack : this.redoStack).push(step);
    this.changed();
  }

  private push(stack: UndoStep[]): UndoStep {
    const step = new UndoStep();
    stack.push(step);
    const forgotten = stack.length > HISTORY_LIMIT ? stack.shift() : undefined;
    for (const p of forgotten?.parts ?? []) this.waiting.delete(p.commandId);
    return step;
  }

  private settle(commandId: string, inverse: PatchOperation[] | undefined): void {
    const w = this.waiting.get(commandId);
    if (!w) return;
    this.waiting.delete(commandId);
    w.step.settle(w.part, inverse);
    if (w.step.settled && w.step.inverse().length === 0) this.discard(w.step);
  }

  /** Removes a step that turned out to change nothing (all its commands refused). */
  private discard(step: UndoStep): void {
    for (const stack of [this.undoStack, this.redoStack]) {
      const i = stack.indexOf(step);
      if (i >= 0) stack.splice(i, 1);
    }
    if (this.batchStep === step) this.batchStep = undefined;
    this.changed();
  }

  private changed(): void {
    const now = { canUndo: this.canUndo, canRedo: this.canRedo };
    if (now.canUndo === this.last.canUndo && now.canRedo === this.last.canRedo) return;
    this.last = now;
    this.onChange(now);
  }
}
