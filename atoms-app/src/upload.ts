/**
 * Images travel by ref (CONTRACT §9): register the bytes with `POST /v1/artifacts`, PUT them to
 * the upload URL it returns, and hand back the media value a shape stores (never the bytes). The
 * artifact belongs to the canvas's stream: whoever may read the canvas may see it.
 */
import type { MediaValue } from '@atoms-realtime/ui';

interface Registered {
  artifact_id: string;
  upload: { method: string; url: string; headers: Record<string, string> } | null;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function failure(res: Response, what: string): Promise<Error> {
  let detail = res.statusText;
  try {
    const problem = (await res.json()) as { detail?: unknown; code?: unknown };
    if (typeof problem.detail === 'string') detail = `${String(problem.code)}: ${problem.detail}`;
  } catch {
    // not problem+json
  }
  return new Error(`${what}: ${res.status} ${detail}`);
}

async function imageSize(file: Blob): Promise<{ width: number; height: number }> {
  const bitmap = await createImageBitmap(file);
  const size = { width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return size;
}

export async function uploadImage(file: File, streamId: string, getToken: () => Promise<string>): Promise<MediaValue> {
  const mime = file.type.toLowerCase();
  if (!mime.startsWith('image/')) throw new Error(`${file.name} is not an image`);
  if (!globalThis.crypto?.subtle) throw new Error('uploading needs a secure context (https or localhost)');
  const bytes = await file.arrayBuffer();
  const sha256 = hex(await crypto.subtle.digest('SHA-256', bytes));
  const { width, height } = await imageSize(file);
  const res = await fetch('/v1/artifacts', {
    method: 'POST',
    headers: { Authorization: `Bearer ${await getToken()}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ mime, size: bytes.byteLength, sha256, stream_id: streamId }),
  });
  if (!res.ok) throw await failure(res, 'POST /v1/artifacts');
  const registered = (await res.json()) as Registered;
  const upload = registered.upload;
  if (upload) {
    const put = await fetch(upload.url, { method: upload.method, headers: upload.headers, body: bytes });
    if (!put.ok) throw await failure(put, 'artifact upload');
  }
  return { kind: 'image', ref: { artifact_id: registered.artifact_id }, mime, size: bytes.byteLength, sha256, width, height };
}
