// A folder of disc images watched at run time: which *.iso / *.img files it holds, and when one
// appears, changes or goes away. FolderTracker is the decision logic (pure: listings in, events
// out); ImageFolderWatcher feeds it from the file system, on fs.watch events and on a periodic
// rescan (fs.watch can miss events, e.g. on network file systems, or fail when inotify runs out).
//
// A file counts only once it is complete: dotfiles and other names (rsync's ".name.XXXX", "*.part",
// "*.tmp") are ignored, empty files too, and a file is reported once it has not changed (size,
// mtime, inode) for `settleMs` — either seen unchanged across that long, or last modified that
// long ago. A writer that stalls for longer than that is seen as done; when it resumes, the file
// changes again and is reported as "changed" once it settles.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LuLogger } from '../../scsi/logical-unit.ts';

const IMAGE_NAME = /^[^.].*\.(iso|img)$/i;

/** A name the folder serves as a disc: *.iso or *.img (any case), not a dotfile. */
export function isImageName(name: string): boolean {
  return IMAGE_NAME.test(name);
}

export interface ImageFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly dev: number;
}

function sameFile(a: ImageFile, b: ImageFile): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

export type FolderEvent = { kind: 'added'; file: ImageFile } | { kind: 'changed'; file: ImageFile } | { kind: 'removed'; name: string };

export class FolderTracker {
  readonly settleMs: number;
  /** Files reported (added or changed) and still listed. */
  private readonly known = new Map<string, ImageFile>();
  /** Files seen but not yet settled: the version seen and since when it looks like that. */
  private readonly waiting = new Map<string, { file: ImageFile; since: number }>();

  constructor(settleMs: number) {
    this.settleMs = settleMs;
  }

  /** One listing of the folder (image files with size > 0) at time `now`: removals first, then additions and changes by name. */
  observe(files: readonly ImageFile[], now: number): FolderEvent[] {
    const events: FolderEvent[] = [];
    const listed = new Set(files.map((f) => f.name));
    for (const name of [...this.known.keys()].sort()) {
      if (listed.has(name)) continue;
      this.known.delete(name);
      events.push({ kind: 'removed', name });
    }
    for (const name of [...this.waiting.keys()]) if (!listed.has(name)) this.waiting.delete(name);
    for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const was = this.known.get(f.name);
      if (was && sameFile(was, f)) {
        this.waiting.delete(f.name);
        continue;
      }
      const w = this.waiting.get(f.name);
      const unchanged = w !== undefined && sameFile(w.file, f);
      const settled = (unchanged && now - w.since >= this.settleMs) || (f.mtimeMs <= now && now - f.mtimeMs >= this.settleMs);
      if (!settled) {
        if (!unchanged) this.waiting.set(f.name, { file: f, since: now });
        continue;
      }
      this.waiting.delete(f.name);
      this.known.set(f.name, f);
      events.push({ kind: was ? 'changed' : 'added', file: f });
    }
    return events;
  }

  /** Ms from `now` until the earliest waiting file may settle; undefined when none waits. */
  nextSettle(now: number): number | undefined {
    let best: number | undefined;
    for (const w of this.waiting.values()) {
      const due = Math.max(0, w.since + this.settleMs - now);
      if (best === undefined || due < best) best = due;
    }
    return best;
  }

  /** The names reported and still present. */
  names(): string[] {
    return [...this.known.keys()].sort();
  }
}

/** The image files of a folder now; undefined when the folder cannot be read. */
export async function listImages(folder: string): Promise<ImageFile[] | undefined> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return undefined;
  }
  const out: ImageFile[] = [];
  for (const name of names) {
    if (!isImageName(name)) continue;
    const path = join(folder, name);
    const st = await stat(path).catch(() => undefined); // follows symlinks; gone meanwhile: skip
    if (!st?.isFile() || st.size === 0) continue;
    out.push({ name, path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev });
  }
  return out;
}

export interface ImageFolderWatcherOptions {
  readonly folder: string;
  /** How long a file must stay unchanged before it counts (default 2000 ms). */
  readonly settleMs?: number;
  /** Periodic rescan (default 10000 ms; 0: none). */
  readonly rescanMs?: number;
  /** Coalesces bursts of fs.watch events (default 200 ms). */
  readonly debounceMs?: number;
  readonly log: LuLogger;
  /** Gets the events of each scan, one scan at a time. */
  readonly onEvents: (events: FolderEvent[]) => Promise<void>;
  /** Clock (tests). */
  readonly now?: () => number;
}

export class ImageFolderWatcher {
  readonly tracker: FolderTracker;
  private readonly o: ImageFolderWatcherOptions;
  private fsw: FSWatcher | undefined;
  private interval: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  /** Scans run one after another, each with its events handled before the next. */
  private serial: Promise<void> = Promise.resolve();
  private closed = false;
  private unreadable = false;

  constructor(o: ImageFolderWatcherOptions) {
    this.o = o;
    this.tracker = new FolderTracker(o.settleMs ?? 2000);
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** Lists the folder and returns what changed (nothing when it cannot be read: a passing outage must not eject every disc). */
  async scan(): Promise<FolderEvent[]> {
    const files = await listImages(this.o.folder);
    if (!files) {
      if (!this.unreadable) this.o.log('warn', `${this.o.folder}: cannot read the folder; keeping the drives as they are`);
      this.unreadable = true;
      return [];
    }
    if (this.unreadable) this.o.log('info', `${this.o.folder}: readable again`);
    this.unreadable = false;
    return this.tracker.observe(files, this.now());
  }

  /** Starts watching: fs.watch (when the platform allows) and the periodic rescan. */
  start(): void {
    try {
      this.fsw = watch(this.o.folder, { persistent: false }, () => this.kick());
      this.fsw.on('error', (e) => {
        this.o.log('warn', `${this.o.folder}: fs.watch failed (${e.message}); relying on the periodic rescan`);
        this.fsw?.close();
        this.fsw = undefined;
      });
    } catch (e) {
      this.o.log('warn', `${this.o.folder}: cannot watch (${(e as Error).message}); relying on the periodic rescan`);
    }
    const every = this.o.rescanMs ?? 10_000;
    if (every > 0) {
      this.interval = setInterval(() => this.kick(0), every);
      this.interval.unref();
    }
    this.kick(0);
  }

  /** Asks for a scan soon (a burst of file system events becomes one scan). */
  kick(delayMs = this.o.debounceMs ?? 200): void {
    if (this.closed || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.rescan();
    }, delayMs);
    this.pending.unref();
  }

  /** Scans now, after any scan in progress; resolves once its events are handled. */
  rescan(): Promise<void> {
    this.serial = this.serial.then(() => this.runOnce());
    return this.serial;
  }

  private async runOnce(): Promise<void> {
    if (this.closed) return;
    try {
      const events = await this.scan();
      if (events.length > 0 && !this.closed) await this.o.onEvents(events);
    } catch (e) {
      this.o.log('error', `${this.o.folder}: ${(e as Error).message}`);
    }
    const due = this.tracker.nextSettle(this.now());
    if (due !== undefined && !this.closed) {
      // a file is being written: look again once it may have settled
      const t = setTimeout(() => this.kick(0), due + 50);
      t.unref();
    }
  }

  /** Stops watching; resolves after a scan in progress has been handled. */
  async close(): Promise<void> {
    this.closed = true;
    this.fsw?.close();
    this.fsw = undefined;
    if (this.interval) clearInterval(this.interval);
    if (this.pending) clearTimeout(this.pending);
    this.pending = undefined;
    await this.serial;
  }
}
