/**
 * The transport's side of tab sharing (see tabs.ts for the lock and channel): joining the group of
 * this stream and identity, leading it (the stream's SSE events and status go out to the other
 * tabs, a follower that asks gets the state) or following it (events applied from the channel).
 */
import type { TabRole, TransportErrorContext } from './events.js';
import { uuid } from './ids.js';
import type { Replica } from './replica.js';
import type { Connection, EventStream } from './stream.js';
import { identityKey, TabLink, tabGroupName, type TabMessage, type TabPlatform } from './tabs.js';
import type { ConnectionStatus, StateSnapshotData, SyncStatus } from './types.js';

/** What tab sharing needs from the transport. */
export interface TabSharingHost {
  readonly running: boolean;
  readonly replica: Replica;
  readonly stream: EventStream;
  readonly status: { status: ConnectionStatus; syncStatus: SyncStatus; detail: string | undefined };
  setStatus(status: ConnectionStatus, syncStatus: SyncStatus, detail?: string): void;
  updateSync(): void;
  emitError(ctx: TransportErrorContext): void;
  emitRole(role: TabRole): void;
  getToken(): Promise<string>;
}

export class TabSharing {
  private tabs: TabLink | undefined;
  private joins = 0;
  private readonly tabId = uuid();
  /** A follower's stand-in for a connection: a gap or a bad patch asks the leader for a fresh state. */
  private readonly followerConn: Connection = { stopped: false, stop: (ctx) => this.resync(ctx) };

  constructor(
    private readonly platform: TabPlatform,
    private readonly baseUrl: string,
    private readonly streamId: string,
    private readonly host: TabSharingHost,
  ) {}

  get role(): TabRole {
    if (!this.tabs || !this.host.running) return 'solo';
    return this.tabs.isLeader ? 'leader' : 'follower';
  }

  /** Leader only: tell the other tabs (an SSE event as read, or this tab's status). */
  fanOut(msg: Extract<TabMessage, { t: 'sse' } | { t: 'status' }>): void {
    if (this.tabs?.isLeader) this.tabs.post(msg);
  }

  /** Leaves the group: a leader hands the connection over to the next tab in line. */
  leave(): void {
    this.joins++;
    this.tabs?.stop();
    this.tabs = undefined;
  }

  /**
   * Joins the tab group of this stream and of the identity the token names (tabs of another user
   * of this browser form their own group), as a follower until the lock is granted (at once when
   * no other tab of the group holds it). Without an identity (getToken failed, or no JWT) the tab
   * connects on its own, and its ticket requests report and retry as usual. While the token is
   * awaited the open timeout runs as for a connection: a full connection pool shows as `blocked`.
   */
  async join(): Promise<void> {
    const join = ++this.joins;
    const { host } = this;
    host.stream.watchOpen();
    let identity: string | undefined;
    try {
      identity = identityKey(await host.getToken());
    } catch {
      identity = undefined;
    }
    if (!host.running || join !== this.joins) return;
    host.stream.unwatchOpen();
    if (identity === undefined) {
      host.stream.start();
      return;
    }
    const tabs = new TabLink({
      name: tabGroupName(this.baseUrl, this.streamId, identity),
      ...this.platform,
      onLeader: () => this.becomeLeader(),
      onMessage: (msg) => this.onMessage(msg),
    });
    this.tabs = tabs;
    tabs.start();
    this.askState(false);
    host.emitRole(this.role);
  }

  /** This tab got the lock: it opens the stream, resuming from its own last seq. */
  private becomeLeader(): void {
    if (!this.host.running) return;
    this.host.replica.awaitingSnapshot = false;
    this.tabs?.post({ t: 'leader' });
    this.host.emitRole('leader');
    this.host.stream.start();
  }

  private onMessage(msg: TabMessage): void {
    const { host } = this;
    const replica = host.replica;
    if (!host.running) return;
    if (this.tabs?.isLeader) {
      if (msg.t === 'join') this.answerJoin(msg);
      return;
    }
    switch (msg.t) {
      case 'sse':
        replica.onSseEvent({ type: msg.type, data: msg.data, lastEventId: '', id: undefined }, this.followerConn);
        return;
      case 'status':
        if (msg.status === 'open') host.setStatus('open', replica.caughtUp() ? 'synced' : 'syncing');
        else host.setStatus(msg.status, msg.syncStatus, msg.detail);
        return;
      case 'state':
        if (msg.to !== this.tabId) return;
        replica.headSeq = msg.head_seq;
        replica.applySnapshot(msg.snapshot);
        return;
      case 'leader':
        this.askState(replica.awaitingSnapshot);
        return;
      default:
        return;
    }
  }

  /** As a follower, ask the leader for its state: given our last seq, it answers only with a newer one,
   *  unless ``force`` (ours cannot be used). */
  private askState(force: boolean): void {
    const replica = this.host.replica;
    this.tabs?.post({ t: 'join', from: this.tabId, seq: replica.hasState ? replica.lastSeq : null, force });
  }

  /** A follower asks for the state: send ours if it has none, an older one, or an unusable one. */
  private answerJoin(msg: Extract<TabMessage, { t: 'join' }>): void {
    const tabs = this.tabs;
    if (!tabs) return;
    const { status, syncStatus, detail } = this.host.status;
    const replica = this.host.replica;
    tabs.post({ t: 'status', status, syncStatus, ...(detail ? { detail } : {}) });
    if (!replica.hasState || replica.awaitingSnapshot || replica.needSnapshot) return; // our server snapshot will be forwarded
    if (!msg.force && msg.seq !== null && msg.seq >= replica.lastSeq) return;
    const snapshot: StateSnapshotData = { stream_id: this.streamId, seq: replica.lastSeq, version: replica.version, state: replica.state };
    tabs.post({ t: 'state', to: msg.from, head_seq: replica.headSeq ?? replica.lastSeq, snapshot });
  }

  /** A follower's state cannot go on (gap, patch that does not apply): ignore events until a fresh state. */
  private resync(ctx?: Omit<TransportErrorContext, 'willRetry'>): void {
    const replica = this.host.replica;
    if (ctx) this.host.emitError({ ...ctx, willRetry: true });
    replica.awaitingSnapshot = true;
    this.host.updateSync();
    this.askState(true);
  }
}
