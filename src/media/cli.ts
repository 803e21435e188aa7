// `fileio_tgt tape create|info`: make a blank cartridge file, or show one (header, MAM attributes,
// contents, and whether a torn tail would be cut at the next load).
import { Command, CommanderError } from 'commander';
import { Cartridge, RecordKind } from './cartridge.ts';
import { densityByCode, densityByGeneration, densityForCapacity, formatCapacity, parseTapeSize } from './density.ts';

/** The LTO generation of a cartridge whose command line and barcode name none. */
const DEFAULT_GENERATION = 6;

function progress(label: string): (done: number, total: number) => void {
  let shown = false;
  return (done, total) => {
    if (!process.stderr.isTTY && done < total) {
      process.stderr.write(`${label}: ${Math.floor((100 * done) / Math.max(1, total))}%\n`);
      return;
    }
    if (done < total || shown) {
      shown = true;
      process.stderr.write(`\r${label}: ${Math.floor((100 * done) / Math.max(1, total))}%${done >= total ? '\n' : ''}`);
    }
  };
}

export async function tapeMain(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const program = new Command('fileio_tgt tape').description('Create and inspect tape cartridge files').exitOverride();
  let code = 0;
  program
    .command('create')
    .description('create a blank cartridge file')
    .argument('<FILE>', 'cartridge file to create (must not exist)')
    .requiredOption('--barcode <label>', 'volume label (barcode), 1-32 printable characters, e.g. A00001L6')
    .option('--size <bytes>', 'native capacity, e.g. 2.5T, 800G, 64M (default: the generation\'s)')
    .option('--generation <n>', 'LTO generation 1-9: density code and default size (default: the barcode\'s L1-L9, else 6, or the first that holds --size)')
    .option('--worm', 'write-once cartridge: append only')
    .option('--cleaning', 'cleaning cartridge')
    .option('--json', 'print the header as JSON')
    .action(async (file: string, o: { barcode: string; size?: string; generation?: string; worm?: boolean; cleaning?: boolean; json?: boolean }) => {
      const gen = o.generation !== undefined ? densityByGeneration(Number(o.generation)) : undefined;
      if (o.generation !== undefined && !gen) throw new Error(`--generation ${o.generation}: LTO generations are 1 to 9`);
      // the generation: --generation, else the barcode's media type (LTO labels end in L1..L9),
      // else LTO-6, or the first generation whose native capacity holds --size
      const labelled = /L([1-9])$/.exec(o.barcode);
      const size = o.size !== undefined ? parseTapeSize(o.size) : (gen ?? densityByGeneration(Number(labelled?.[1] ?? DEFAULT_GENERATION))!).capacity;
      if (size === undefined) throw new Error(`--size ${o.size}: not a size (examples: 2.5T, 800G, 64M)`);
      const byLabel = labelled ? densityByGeneration(Number(labelled[1])) : undefined;
      const fallback = densityForCapacity(size).generation > DEFAULT_GENERATION ? densityForCapacity(size) : densityByGeneration(DEFAULT_GENERATION)!;
      const density = gen ?? byLabel ?? fallback;
      const grown = density !== densityByGeneration(DEFAULT_GENERATION);
      const why = gen ? '' : byLabel ? `, from the barcode's L${byLabel.generation}` : `; no --generation: ${grown ? 'the first generation that holds this size' : `LTO-${DEFAULT_GENERATION} is the default`}, --generation N picks another`;
      const h = await Cartridge.create(file, { barcode: o.barcode, capacity: size, worm: o.worm, cleaning: o.cleaning, density: density.code });
      if (o.json) out(`${JSON.stringify({ file, barcode: h.barcode, capacity: h.capacity, worm: !!o.worm, density: h.density, generation: density.generation })}\n`);
      else out(`${file}: cartridge ${h.barcode}, ${size} bytes, LTO-${density.generation} (density ${density.code.toString(16)}h${why})${o.worm ? ', WORM' : ''}\n`);
    });
  program
    .command('info')
    .description('show a cartridge file (read-only; reports a torn tail without repairing it)')
    .argument('<FILE>')
    .option('--json', 'JSON output')
    .action(async (file: string, o: { json?: boolean }) => {
      const c = await Cartridge.open(file, { readOnly: true, progress: progress('scanning') });
      try {
        const h = c.header;
        const d = densityByCode(h.density);
        const attrs = Object.fromEntries([...h.attributes].map(([id, a]) => [id.toString(16).padStart(4, '0'), a.format === 0 ? a.value.toString('hex') : a.value.toString('latin1').trimEnd()]));
        const info = {
          file,
          summary: c.summary(),
          barcode: h.barcode,
          generation: d ? `LTO-${d.generation}` : null,
          partitions: 1,
          serial: h.serial,
          capacity: h.capacity,
          capacityText: formatCapacity(h.capacity),
          used: c.used,
          density: `${h.density.toString(16)}h${d ? ` (LTO-${d.generation})` : ''}`,
          worm: c.worm,
          cleaning: c.cleaning,
          writeProtected: c.writeProtected,
          loadCount: h.loadCount,
          created: new Date(h.createdAt).toISOString(),
          objects: c.count,
          blocks: c.count - c.markList().length,
          filemarks: c.markList(RecordKind.FILEMARK).length,
          setmarks: c.markList(RecordKind.SETMARK).length,
          attributes: attrs,
          index: c.indexSource,
          mounted: c.unclean,
          tornTail: c.recoveredTail ?? null,
        };
        if (o.json) out(`${JSON.stringify(info)}\n`);
        else for (const [k, v] of Object.entries(info)) out(`${k.padEnd(15)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}\n`);
      } finally {
        await c.close();
      }
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    process.stderr.write(`fileio_tgt tape: ${(e as Error).message}\n`);
    code = 1;
  }
  return code;
}
