// Builds a CD/DVD drive logical unit (MMC-6, peripheral type 05h, removable) over an ISO image,
// and the media control the host's control channel drives (load, eject, swap at run time).
import type { DeviceConfig, HandlerHost } from '../contract.ts';
import { Asc, DeviceType, VersionDescriptor } from '../../scsi/constants.ts';
import { identityOf } from '../../scsi/inquiry.ts';
import { ScsiLogicalUnit, type LogicalUnitSpec, type LuLogger } from '../../scsi/logical-unit.ts';
import { BLOCK, IsoDisc, Profile } from './disc.ts';
import { capabilitiesPage, cdromModePages, mmcCommands, notReady, type Drive } from './mmc.ts';
import { DriveState } from './state.ts';

/** MMC-6 (no version claimed). */
export const MMC6_VERSION_DESCRIPTOR = 0x04e0;

export type MediaAction = 'load' | 'eject' | 'swap' | 'status';

export interface MediaRequest {
  action: MediaAction;
  /** ISO image for load/swap; load without one closes the tray on what is in it. */
  file?: string;
  /** Eject or swap even while an initiator prevents removal (releases every PREVENT). */
  force?: boolean;
}

/** What a logical unit with removable media offers the host's control channel. */
export interface MediaChanger {
  media(req: MediaRequest): Promise<Record<string, unknown>>;
}

export function isMediaChanger(lu: unknown): lu is MediaChanger {
  return typeof (lu as { media?: unknown })?.media === 'function';
}

/** A FILE of "-" (or none) on the command line starts an empty drive. */
export function isEmptyDriveFile(file: string | undefined): boolean {
  return file === undefined || file === '' || file === '-';
}

/** options.profile: "cd" or "dvd" forces the profile; absent: from the image size. */
export function profileOption(config: DeviceConfig): 'cd' | 'dvd' | undefined {
  const v = config.options?.['profile'];
  if (v === undefined) return undefined;
  if (v !== 'cd' && v !== 'dvd') throw new Error(`device ${config.name}: option profile must be "cd" or "dvd", not ${JSON.stringify(v)}`);
  return v;
}

export class CdromLogicalUnit extends ScsiLogicalUnit implements MediaChanger {
  readonly drive: Drive;
  private readonly forceProfile: 'cd' | 'dvd' | undefined;
  /** Media changes run one at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  /** The changer whose data transfer element this drive is: only it changes the disc. */
  heldBy: string | undefined;

  constructor(spec: LogicalUnitSpec, drive: Drive, forceProfile: 'cd' | 'dvd' | undefined) {
    super(spec);
    this.drive = drive;
    this.forceProfile = forceProfile;
  }

  status(): Record<string, unknown> {
    const d = this.drive;
    return {
      device: this.name,
      tray: d.tray,
      ready: d.ready,
      file: d.disc?.path ?? null,
      profile: d.medium ? (d.medium.isDvd ? 'DVD-ROM' : 'CD-ROM') : null,
      blocks: d.disc?.blocks ?? 0,
      prevented: d.prevented,
    };
  }

  media(req: MediaRequest): Promise<Record<string, unknown>> {
    if (this.heldBy !== undefined && req.action !== 'status') {
      return Promise.reject(new Error(`${this.name} is a drive of the jukebox ${this.heldBy}: discs move with MOVE MEDIUM (e.g. mtx), not with media ${req.action}`));
    }
    return this.changerMedia(req);
  }

  /** A media change by the changer holding the drive (or by media() once it has checked). */
  changerMedia(req: MediaRequest): Promise<Record<string, unknown>> {
    const run = this.chain.then(() => this.change(req));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async change(req: MediaRequest): Promise<Record<string, unknown>> {
    const d = this.drive;
    const log = this.spec.log;
    switch (req.action) {
      case 'status':
        return this.status();
      case 'eject': {
        const r = await d.hostEject(req.force === true);
        if (r === 'requested') {
          throw new Error(`${this.name}: medium removal is prevented by an initiator; an eject request event was posted (use --force to eject anyway)`);
        }
        log('info', `${r === 'empty' ? 'tray opened (no disc)' : 'disc ejected'}`);
        return { ...this.status(), result: r };
      }
      case 'load':
      case 'swap': {
        if (req.file === undefined) {
          if (req.action === 'swap') throw new Error(`${this.name}: swap needs an ISO image`);
          const r = await d.hostLoad(undefined);
          log('info', `tray closed${d.disc ? ` on ${d.disc.path}` : ' (no disc)'}`);
          return { ...this.status(), result: r };
        }
        const disc = await IsoDisc.open(req.file, this.forceProfile);
        let r: Awaited<ReturnType<Drive['hostLoad']>>;
        try {
          r = await d.hostLoad(disc, { swap: req.action === 'swap', force: req.force === true });
        } catch (e) {
          await disc.close();
          throw e;
        }
        if (r === 'occupied' || r === 'prevented') {
          await disc.close();
          throw new Error(
            r === 'occupied'
              ? `${this.name}: a disc is loaded (${d.disc?.path}); eject it first or use swap`
              : `${this.name}: medium removal is prevented by an initiator; an eject request event was posted (use --force to swap anyway)`,
          );
        }
        log('info', `loaded ${disc.path} (${disc.isDvd ? 'DVD-ROM' : 'CD-ROM'}, ${disc.blocks} blocks)`);
        return { ...this.status(), result: r };
      }
      default:
        throw new Error(`unknown media action ${JSON.stringify((req as { action: unknown }).action)} (load, eject, swap, status)`);
    }
  }
}

/** Builds the drive over an already opened disc (or none); tests call this directly. */
export function createCdromUnit(config: DeviceConfig, disc: IsoDisc | undefined, log: LuLogger): CdromLogicalUnit {
  const identity = identityOf(config);
  let lu: CdromLogicalUnit | undefined;
  const drive: Drive = new DriveState<IsoDisc>(disc, {
    mediumChanged: (except) => lu?.ua.addOthers(except, Asc.NOT_READY_TO_READY_CHANGE),
  });
  const spec: LogicalUnitSpec = {
    name: config.name,
    type: config.type,
    peripheralType: DeviceType.CDROM,
    removable: true,
    identity,
    versionDescriptors: [VersionDescriptor.SAM_5, VersionDescriptor.SPC_4, MMC6_VERSION_DESCRIPTOR],
    commands: mmcCommands(drive, { serial: identity.serial }),
    modePages: cdromModePages(),
    checkReady: () => {
      if (!drive.ready) throw notReady(drive);
    },
    onReset: () => drive.reset(),
    onNexusLost: (nexus) => drive.nexusLost(nexus.id),
    describe: () => {
      const d = drive.disc;
      return {
        blockSize: BLOCK,
        blocks: String(d?.blocks ?? 0),
        sizeBytes: d ? d.blocks * BLOCK : 0,
        backing: d?.path ?? '-',
        tray: drive.tray,
        profile: drive.medium ? (drive.medium.profile === Profile.DVD_ROM ? 'DVD-ROM' : 'CD-ROM') : 'none',
        writeProtected: true,
      };
    },
    flush: async () => undefined,
    close: async () => {
      await drive.disc?.close();
    },
    log,
  };
  lu = new CdromLogicalUnit(spec, drive, profileOption(config));
  const self = lu;
  lu.addHook((ctx) => {
    drive.touch(ctx.cmd.nexus.id);
    const op = ctx.cdb[0];
    // page 2Ah carries the live lock state
    if (op === 0x1a || op === 0x5a) self.modePages.setCurrent(0x2a, 0, capabilitiesPage(drive.prevented));
  });
  return lu;
}

/** The HandlerModule.create of the cdrom type. */
export async function createCdrom(config: DeviceConfig, host: HandlerHost): Promise<CdromLogicalUnit> {
  if (config.nullio) throw new Error(`device ${config.name}: -n/--nullio does not apply to a cdrom`);
  const profile = profileOption(config);
  const disc = isEmptyDriveFile(config.file) ? undefined : await IsoDisc.open(config.file!, profile);
  const log: LuLogger = (level, message) => host.log(level, message);
  return createCdromUnit(config, disc, log);
}
