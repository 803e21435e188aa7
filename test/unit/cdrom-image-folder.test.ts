// The folder of ISOs at run time: which names count as images, when a file counts as complete
// (settle rules of FolderTracker), and ImageFolderWatcher on a real temp folder (fs.watch plus
// rescans): a file written in pieces is reported once, after it stops growing; a removal is
// reported; an unreadable folder reports nothing (no mass eject).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FolderTracker, ImageFolderWatcher, isImageName, listImages, type FolderEvent, type ImageFile } from '../../src/handlers/cdrom/image-folder.ts';
import { tempDir } from '../helpers/scsi-harness.ts';

const file = (name: string, size: number, mtimeMs: number, ino = 1): ImageFile => ({ name, path: `/x/${name}`, size, mtimeMs, ino, dev: 1 });
const brief = (events: FolderEvent[]) => events.map((e) => (e.kind === 'removed' ? `-${e.name}` : `${e.kind === 'added' ? '+' : '~'}${e.file.name}`));

test('image names: *.iso and *.img in any case; dotfiles and temp names are not images', () => {
  for (const n of ['debian.iso', 'A.ISO', 'disk.img', 'x.y.Iso', 'with space.iso']) assert.ok(isImageName(n), n);
  for (const n of ['.hidden.iso', '.debian.iso.Xy12ab', 'debian.iso.part', 'debian.iso.tmp', 'debian.iso~', 'readme.txt', '.iso', 'iso']) assert.ok(!isImageName(n), n);
});

test('FolderTracker: a file counts once unchanged for the settle time, or last modified that long ago', () => {
  const t = new FolderTracker(1000);
  // an old file is complete at once; a fresh one waits
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0), file('new.iso', 5, 9_900)], 10_000)), ['+old.iso']);
  assert.equal(t.nextSettle(10_000), 1000);
  // still growing: keeps waiting, and its clock restarts
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0), file('new.iso', 8, 10_400)], 10_500)), []);
  assert.equal(t.nextSettle(10_500), 1000);
  // unchanged for less than the settle time: not yet
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0), file('new.iso', 8, 10_400)], 11_000)), []);
  // unchanged since 10_500 for 1000 ms
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0), file('new.iso', 8, 10_400)], 11_500)), ['+new.iso']);
  assert.equal(t.nextSettle(11_500), undefined);
  assert.deepEqual(t.names(), ['new.iso', 'old.iso']);
  // replaced (new inode) and settled: changed; removed: reported at once, removals first
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0, 2)], 20_000)), ['-new.iso', '~old.iso']);
  // a file dated in the future (clock skew) is not taken as old
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0, 2), file('skew.iso', 4, 99_000)], 20_000)), []);
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0, 2), file('skew.iso', 4, 99_000)], 21_000)), ['+skew.iso']);
  // a waiting file that disappears is forgotten
  t.observe([file('old.iso', 10, 0, 2), file('skew.iso', 4, 99_000), file('gone.iso', 1, 30_000)], 30_000);
  assert.deepEqual(brief(t.observe([file('old.iso', 10, 0, 2), file('skew.iso', 4, 99_000)], 30_100)), []);
  assert.equal(t.nextSettle(30_100), undefined);
});

test('listImages: regular non-empty image files only (symlinks followed)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'a.iso'), Buffer.alloc(2048));
    await writeFile(join(dir, 'empty.iso'), '');
    await writeFile(join(dir, '.partial.iso'), Buffer.alloc(2048));
    await writeFile(join(dir, 'notes.txt'), 'x');
    await mkdir(join(dir, 'dir.iso'));
    await symlink(join(dir, 'a.iso'), join(dir, 'link.img'));
    await symlink(join(dir, 'missing'), join(dir, 'dangling.iso'));
    const names = (await listImages(dir))!.map((f) => f.name).sort();
    assert.deepEqual(names, ['a.iso', 'link.img']);
    assert.equal(await listImages(join(dir, 'nope')), undefined);
  } finally {
    await cleanup();
  }
});

test('ImageFolderWatcher on a real folder: partial writes wait, rename-into-place and removal are seen', async () => {
  const { dir, cleanup } = await tempDir();
  const seen: string[] = [];
  let notify: () => void = () => undefined;
  const w = new ImageFolderWatcher({
    folder: dir,
    settleMs: 400,
    rescanMs: 5000,
    debounceMs: 20,
    log: () => undefined,
    onEvents: async (events) => {
      seen.push(...brief(events));
      notify();
    },
  });
  const until = async (pred: () => boolean, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) assert.fail(`timed out; seen ${JSON.stringify(seen)}`);
      await new Promise<void>((r) => {
        notify = r;
        setTimeout(r, 50);
      });
    }
  };
  try {
    assert.deepEqual(await w.scan(), []);
    w.start();
    // written in pieces, 100 ms apart: nothing while it grows
    const p = join(dir, 'slow.iso');
    for (let i = 0; i < 6; i++) {
      await appendFile(p, Buffer.alloc(2048, i));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen, [], `reported while still growing (piece ${i})`);
    }
    await until(() => seen.includes('+slow.iso'));
    // copied under a temp name, then renamed into place (rsync, curl -o x.part && mv)
    await writeFile(join(dir, '.fast.iso.tmp'), Buffer.alloc(4096));
    await rename(join(dir, '.fast.iso.tmp'), join(dir, 'fast.iso'));
    await until(() => seen.includes('+fast.iso'));
    await rm(join(dir, 'slow.iso'));
    await until(() => seen.includes('-slow.iso'));
    assert.deepEqual(seen, ['+slow.iso', '+fast.iso', '-slow.iso']);
  } finally {
    await w.close();
    await cleanup();
  }
});

test('ImageFolderWatcher: an unreadable folder reports no removals; a scan after close does nothing', async () => {
  const { dir, cleanup } = await tempDir();
  const logs: string[] = [];
  const sub = join(dir, 'isos');
  await mkdir(sub);
  await writeFile(join(sub, 'a.iso'), Buffer.alloc(2048));
  const w = new ImageFolderWatcher({ folder: sub, settleMs: 0, log: (l, m) => logs.push(`${l}: ${m}`), onEvents: async () => undefined });
  try {
    assert.deepEqual(brief(await w.scan()), ['+a.iso']);
    await rename(sub, join(dir, 'moved'));
    assert.deepEqual(await w.scan(), []);
    assert.match(logs.join('\n'), /cannot read the folder; keeping the drives as they are/);
    await rename(join(dir, 'moved'), sub);
    assert.deepEqual(await w.scan(), [], 'same file, same identity: nothing changed');
  } finally {
    await w.close();
    await cleanup();
  }
});
