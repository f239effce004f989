/**
 * The chat panel: renders `/chat` from the state (the agent's reply grows token by token as
 * `token_patch` events arrive) and posts a person's message with `chat.post`.
 */
import { type CanvasTransport, type JsonValue, uuid } from '@atoms-realtime/ui';
import { h } from './dom.js';
import { displayName } from './session.js';

interface Message {
  id: string;
  role: string;
  author: string;
  text: string;
}

function messagesOf(state: JsonValue): Message[] {
  const chat = typeof state === 'object' && state !== null && !Array.isArray(state) ? state.chat : undefined;
  if (!Array.isArray(chat)) return [];
  return chat.flatMap((m, i): Message[] => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return [];
    const str = (v: JsonValue | undefined, d: string): string => (typeof v === 'string' ? v : d);
    return [{ id: str(m.message_id, `#${i}`), role: str(m.role, 'user'), author: str(m.author, ''), text: str(m.text, '') }];
  });
}

export class ChatView {
  readonly element: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly input: HTMLInputElement;
  private readonly items = new Map<string, HTMLLIElement>();
  /** Chat indexes whose text is still streaming (a token_patch without `final` arrived). */
  private readonly streaming = new Set<number>();

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
    transport.on('token_patch', ({ target, final }) => {
      const m = /^\/chat\/(\d+)\/text$/.exec(target);
      if (!m) return;
      const i = Number(m[1]);
      if (final) this.streaming.delete(i);
      else this.streaming.add(i);
      this.log.children[i]?.classList.toggle('streaming', !final);
    });
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
    const nearBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    const seen = new Set<string>();
    messages.forEach((m, i) => {
      seen.add(m.id);
      let li = this.items.get(m.id);
      if (!li) {
        const who = m.role === 'user' ? displayName(m.author) : m.role === 'assistant' ? 'agent' : m.role;
        li = h('li', { 'data-id': m.id, 'data-role': m.role }, h('span', { class: 'author' }, who), h('span', { class: 'text' }));
        this.items.set(m.id, li);
      }
      const text = li.querySelector('.text');
      if (text && text.textContent !== m.text) text.textContent = m.text;
      li.classList.toggle('streaming', this.streaming.has(i));
      if (this.log.children[i] !== li) this.log.insertBefore(li, this.log.children[i] ?? null);
    });
    for (const [id, li] of this.items) {
      if (!seen.has(id)) {
        li.remove();
        this.items.delete(id);
      }
    }
    if (nearBottom) this.log.scrollTop = this.log.scrollHeight;
  }
}
