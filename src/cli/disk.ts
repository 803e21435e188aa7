// `fileio_tgt disk create --size 10G FILE`: a new disk image. Sparse by default (a hole the size
// of the disk, as `truncate -s` makes it: blocks are allocated as initiators write);
// --preallocate writes the zeros now, with progress, so that a full file system never finds
// ENOSPC under an initiator's writes.
import { open } from 'node:fs/promises';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { errnoText } from '../backing/errno.ts';
import { checkBlockSize, parseSize } from '../host/config.ts';

/** Zeros written per call when preallocating. */
const CHUNK = 8 << 20;

export function buildDiskProgram(): Command {
  const program = new Command('fileio_tgt disk').description('Make disk images to serve with fileio_tgt NAME FILE.');
  program
    .command('create')
    .description('create a disk image: sparse (like truncate -s SIZE FILE), or written out with --preallocate')
    .argument('<FILE>', 'image to create (must not exist)')
    .requiredOption('--size <size>', 'size in bytes, or 64M, 10G, 1T (binary units), a multiple of the block size', (v: string) => {
      const n = parseSize(v);
      if (n === undefined || n <= 0) throw new InvalidArgumentError(`"${v}" is not a size (bytes, or 64M, 10G, 1T)`);
      return n;
    })
    .option('-b, --block <size>', 'the block size it will be served with (default 512): the size must be a multiple of it', (v: string) => {
      try {
        return checkBlockSize(Number(v), 'command line', '--block');
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message.replace(/^command line: --block: /, ''));
      }
    })
    .option('--preallocate', 'write the zeros now (shows progress), so that every block has its place on disk');
  return program;
}

export async function diskMain(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const program = buildDiskProgram().exitOverride();
  let result = 0;
  program.commands[0]!.action(async (file: string, o: { size: number; block?: number; preallocate?: boolean }) => {
    const block = o.block ?? 512;
    if (o.size % block !== 0) throw new Error(`--size ${o.size} is not a multiple of the ${block}-byte block size`);
    let fh;
    try {
      fh = await open(file, 'wx');
    } catch (e) {
      throw new Error(`cannot create ${file}: ${errnoText(e)}`);
    }
    try {
      if (o.preallocate) await writeZeros(fh, o.size, file, err);
      else await fh.truncate(o.size);
      await fh.datasync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw new Error(`${file}: ${errnoText(e)} (the partial image is left in place)`);
    }
    await fh.close();
    out(`${file}: ${o.size} bytes${o.preallocate ? ', preallocated' : ', sparse'}; serve it with: fileio_tgt ${block !== 512 ? `-b ${block} ` : ''}NAME ${file}\n`);
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    err(`fileio_tgt disk: ${(e as Error).message}\n`);
    result = 1;
  }
  return result;
}

/** Writes `size` zero bytes, reporting progress on stderr about once a second. */
async function writeZeros(fh: Awaited<ReturnType<typeof open>>, size: number, file: string, err: (s: string) => void): Promise<void> {
  const zeros = Buffer.alloc(Math.min(CHUNK, size));
  const tty = process.stderr.isTTY === true;
  let shown = Date.now();
  for (let pos = 0; pos < size; ) {
    const n = Math.min(zeros.length, size - pos);
    const { bytesWritten } = await fh.write(zeros, 0, n, pos);
    pos += bytesWritten;
    if (Date.now() - shown >= 1000 || pos === size) {
      shown = Date.now();
      err(`${tty ? '\r' : ''}${file}: ${Math.floor((100 * pos) / size)}% (${pos} of ${size} bytes)${tty && pos < size ? '' : '\n'}`);
    }
  }
}
