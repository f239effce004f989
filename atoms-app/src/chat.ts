/**
 * The chat panel: renders `/chat` from the state (the agent's reply grows token by token as
 * `token_patch` events arrive; a reply that stopped short is marked, see replies.ts), keeps the
 * newest message in view unless the person scrolled up, and posts a message with `chat.post`.
 * While a reply streams it shows Stop, which asks the agent to stop through the timeline: a
 * `state.patch` adding `/chat/<i>/stop_requested` = true (guarded by a `test` of the message id).
 */
import { type CanvasTransport, type JsonValue, type PatchOperation, uuid } from '@atoms-realtime/ui';
import { h } from './dom.js';
import { ReplyWatch } from './replies.js';
import { displayName } from './session.js';

interface Message {
  id: string;
  role: string;
  author: string;
  text: string;
  interrupted: boolean;
  stopRequested: boolean;
}

function messagesOf(state: JsonValue): Message[] {
  const chat = typeof state === 'object' && state !== null && !Array.isArray(state) ? state.chat : undefined;
  if (!Array.isArray(chat)) return [];
  return chat.flatMap((m, i): Message[] => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return [];
    const str = (v: JsonValue | undefined, d: string): string => (typeof v === 'string' ? v : d);
    return [{ id: str(m.message_id, `#${i}`), role: str(m.role, 'user'), author: str(m.author, ''), text: str(m.text, ''), interrupted: m.interrupted === true, stopRequested: m.stop_requested === true }];
  });
}

export class ChatView {
  readonly element: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly input: HTMLInputElement;
  private readonly items = new Map<string, HTMLLIElement>();
  private readonly replies: ReplyWatch;
  /** Follow new messages (the log is scrolled to its end), until the person scrolls up. */
  private stick = true;
  /** Where follow() last put the log: a scroll event at or below it is ours, not the person's. */
  private followedTop = 0;

  constructor(
    private readonly transport: CanvasTransport,
    private readonly notify: (message: string) => void,
  ) {
    this.log = h('ol', { class: 'chat-log', 'data-testid': 'chat-log' });
    this.input = h('input', { type: 'text', name: 'message', placeholder: 'Message the canvas…', autocomplete: 'off', maxlength: 2000, 'data-testid': 'chat-input' });
    const form = h('form', { class: 'chat-form' }, this.input, h('button', { type: 'submit' }, 'Send'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    this.element = h('section', { class: 'chat' }, h('h2', {}, 'Chat'), this.log, form);
    this.replies = new ReplyWatch(transport, () => this.render(transport.getState()));
    // Scroll events come a frame late: by then the log may have shrunk under our own scroll to the
    // end (the side panel filling in), so only a scroll above where we put it means "scrolled up".
    this.log.addEventListener('scroll', () => {
      const atEnd = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
      this.stick = atEnd || (this.stick && this.log.scrollTop >= this.followedTop);
    });
    // The log gets its size only once the page is laid out: scroll to the newest message then.
    new ResizeObserver(() => this.follow()).observe(this.log);
    transport.subscribe(({ state }) => this.render(state));
    this.render(transport.getState());
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (text === '') return;
    this.input.value = '';
    try {
      await this.transport.command('chat.post', { message_id: uuid(), role: 'user', text });
    } catch (err) {
      this.input.value ||= text;
      this.notify(`message not sent: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private render(state: JsonValue): void {
    const messages = messagesOf(state);
    const seen = new Set<string>();
    messages.forEach((m, i) => {
      seen.add(m.id);
      let li = this.items.get(m.id);
      if (!li) {
        const who = m.role === 'user' ? displayName(m.author) : m.role === 'assistant' ? 'agent' : m.role;
        li = h('li', { 'data-id': m.id, 'data-role': m.role }, h('span', { class: 'author' }, who), h('span', { class: 'text' }));
        if (m.role === 'assistant') li.append(this.stopButton(m.id));
        this.items.set(m.id, li);
      }
      const text = li.querySelector('.text');
      if (text && text.textContent !== m.text) text.textContent = m.text;
      const interrupted = m.interrupted || this.replies.isStalled(i);
      li.classList.toggle('streaming', this.replies.isStreaming(i) && !interrupted);
      li.classList.toggle('interrupted', interrupted);
      li.classList.toggle('stop-requested', m.stopRequested);
      li.title = interrupted ? 'This reply stopped before it was finished.' : '';
      if (this.log.children[i] !== li) this.log.insertBefore(li, this.log.children[i] ?? null);
    });
    for (const [id, li] of this.items) {
      if (!seen.has(id)) {
        li.remove();
        this.items.delete(id);
      }
    }
    this.follow();
  }

  private stopButton(id: string): HTMLButtonElement {
    const button = h('button', { type: 'button', class: 'stop', 'data-testid': 'chat-stop', title: 'Ask the agent to stop this reply' }, 'Stop');
    button.addEventListener('click', () => void this.stop(id));
    return button;
  }

  private async stop(id: string): Promise<void> {
    const i = messagesOf(this.transport.getState()).findIndex((m) => m.id === id);
    if (i < 0) return;
    // A message without its own id (shown as `#<i>`) cannot be guarded by a test of it.
    const guard: PatchOperation[] = id.startsWith('#') ? [] : [{ op: 'test', path: `/chat/${i}/message_id`, value: id }];
    const ops: PatchOperation[] = [...guard, { op: 'add', path: `/chat/${i}/stop_requested`, value: true }];
    try {
      await this.transport.command('state.patch', { ops });
    } catch (err) {
      this.notify(`could not stop the reply: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private follow(): void {
    if (!this.stick) return;
    this.log.scrollTop = this.log.scrollHeight;
    this.followedTop = this.log.scrollTop;
  }
}
