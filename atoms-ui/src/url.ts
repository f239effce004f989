/** The fixed route table (CONTRACT §4); the stream id is a path parameter, sent as is. */

export function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

export function ticketsUrl(baseUrl: string): string {
  return `${trimBase(baseUrl)}/v1/tickets`;
}

export function eventsUrl(baseUrl: string, streamId: string, ticket: string): string {
  return `${trimBase(baseUrl)}/v1/streams/${streamId}/events?ticket=${encodeURIComponent(ticket)}`;
}

export function commandsUrl(baseUrl: string, streamId: string): string {
  return `${trimBase(baseUrl)}/v1/streams/${streamId}/commands`;
}

export function artifactUrl(baseUrl: string, artifactId: string): string {
  return `${trimBase(baseUrl)}/v1/artifacts/${encodeURIComponent(artifactId)}`;
}

/** `http(s)://host/base` → `ws(s)://host/base`. A relative base resolves against `location` if any. */
export function toWsBase(baseUrl: string): string {
  let base = trimBase(baseUrl);
  if (!/^[a-z][a-z0-9+.-]*:/i.test(base)) {
    const loc = (globalThis as { location?: { href: string } }).location;
    if (loc) base = trimBase(new URL(base || '/', loc.href).href);
  }
  return base.replace(/^http(s?):/i, (_m, s: string) => `ws${s}:`);
}

export function wsUrl(wsBase: string, streamId: string, ticket: string): string {
  return `${trimBase(wsBase)}/v1/streams/${streamId}/ws?ticket=${encodeURIComponent(ticket)}`;
}

/** Resolves a possibly relative URL returned by the server against the base URL. */
export function resolveAgainst(baseUrl: string, url: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return url;
  try {
    return new URL(url, trimBase(baseUrl) + '/').href;
  } catch {
    return url;
  }
}
