// ISO images made at test time with genisoimage (Debian's genisoimage package).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './target-process.ts';

/** Writes `files` into DIR/NAME.src and makes DIR/NAME.iso (Rock Ridge, volume id `volume`); returns its path. */
export async function makeIso(dir: string, name: string, volume: string, files: Record<string, string | Buffer>): Promise<string> {
  const src = join(dir, `${name}.src`);
  await mkdir(src, { recursive: true });
  for (const [f, data] of Object.entries(files)) {
    await mkdir(dirname(join(src, f)), { recursive: true });
    await writeFile(join(src, f), data);
  }
  const iso = join(dir, `${name}.iso`);
  const r = await run('genisoimage', ['-quiet', '-R', '-J', '-V', volume, '-o', iso, src]);
  assert.equal(r.code, 0, r.stderr);
  return iso;
}

export async function sha256Of(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256sum -c` input for `files` as they appear in a mounted image: "<sha256>  ./<path>" per file. */
export function sumsOf(files: Record<string, string | Buffer>): string {
  return Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([f, data]) => `${sha256(Buffer.from(data))}  ./${f}\n`)
    .join('');
}
