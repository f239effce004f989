/**
 * Sidecar refs → URLs (CONTRACT §9). `{artifact_id}` is resolved by
 * `GET /v1/artifacts/{id}` (identity JWT as bearer) and cached until its `expires_at`;
 * `{uri}` with an https scheme is its own URL. Inline bytes / data: URIs are never URLs here.
 */
import { errorFromResponse, networkError, SidecarError } from './errors.js';
import type { ArtifactResolution, FetchLike, GetToken, MediaRef, MediaValue } from './types.js';
import { artifactUrl, resolveAgainst } from './url.js';

export interface SidecarResolverOptions {
  baseUrl: string;
  getToken: GetToken;
  fetch: FetchLike;
  /** URI schemes returned as is (default ["https:"]). */
  allowedSchemes?: string[];
  /** Cached URLs are dropped this long before they expire (default 5000 ms). */
  expirySkewMs?: number;
  now?: () => number;
}

interface CacheEntry {
  url: string;
  validUntil: number;
}

export function isMediaValue(v: unknown): v is MediaValue {
  return typeof v === 'object' && v !== null && typeof (v as { ref?: unknown }).ref === 'object' && (v as { ref?: unknown }).ref !== null;
}

export class SidecarResolver {
  private readonly opts: SidecarResolverOptions;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(options: SidecarResolverOptions) {
    this.opts = options;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Resolves a ref (or a whole media value) to a URL the UI can render. */
  async resolve(refOrMedia: MediaRef | MediaValue): Promise<string> {
    const ref: MediaRef = isMediaValue(refOrMedia) ? refOrMedia.ref : refOrMedia;
    if (ref.artifact_id) return this.resolveArtifact(ref.artifact_id);
    if (ref.uri) return this.checkUri(ref.uri);
    if (ref.object_id) throw new SidecarError('sidecar_unresolvable', 'object_id refs are resolved server-side only');
    throw new SidecarError('sidecar_missing_ref', 'media ref has no artifact_id, uri or object_id');
  }

  /** Drops cached URLs (all, or one artifact's). */
  invalidate(artifactId?: string): void {
    if (artifactId === undefined) this.cache.clear();
    else this.cache.delete(artifactId);
  }

  private checkUri(uri: string): string {
    let scheme: string;
    try {
      scheme = new URL(uri).protocol;
    } catch (e) {
      throw new SidecarError('sidecar_bad_uri', `not an absolute URI: ${uri.slice(0, 64)}`, e);
    }
    if (scheme === 'data:') throw new SidecarError('sidecar_inline_bytes', 'data: URIs are refused; register an artifact');
    const allowed = this.opts.allowedSchemes ?? ['https:'];
    if (!allowed.includes(scheme)) throw new SidecarError('sidecar_bad_uri', `URI scheme ${scheme} is not allowed`);
    return uri;
  }

  private resolveArtifact(id: string): Promise<string> {
    const hit = this.cache.get(id);
    if (hit && hit.validUntil > this.now()) return Promise.resolve(hit.url);
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const p = this.fetchArtifact(id).finally(() => this.inflight.delete(id));
    this.inflight.set(id, p);
    return p;
  }

  private async fetchArtifact(id: string): Promise<string> {
    const what = `GET /v1/artifacts/${id}`;
    const token = await this.opts.getToken();
    let res: Response;
    try {
      res = await this.opts.fetch(artifactUrl(this.opts.baseUrl, id), {
        method: 'GET',
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
      });
    } catch (e) {
      throw networkError(what, e);
    }
    if (!res.ok) throw await errorFromResponse(res, what);
    const body = (await res.json()) as ArtifactResolution;
    if (typeof body.url !== 'string') throw new SidecarError('protocol_error', `${what}: no url in the answer`);
    const url = resolveAgainst(this.opts.baseUrl, body.url);
    const expires = Date.parse(body.expires_at);
    if (!Number.isNaN(expires)) {
      this.cache.set(id, { url, validUntil: expires - (this.opts.expirySkewMs ?? 5000) });
    }
    return url;
  }
}
