// examples/js-processor as its user has it: copied outside the tree, with fileio_tgt installed in
// its node_modules (a link to this checkout, as `npm link fileio_tgt` makes it).
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/helpers). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export async function installJsExample(): Promise<{ dir: string; handlers: string; module: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fileio-example-'));
  await cp(join(ROOT, 'examples/js-processor'), dir, { recursive: true });
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules/fileio_tgt'), 'dir');
  return { dir, handlers: join(dir, 'handlers.json'), module: join(dir, 'processor.mjs'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
