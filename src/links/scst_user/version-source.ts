// Which DEV_USER_VERSION string REGISTER_DEVICE must present. The kernel compares it byte for
// byte with SCST_VERSION_NAME + sha1(scst_user.h) + sha1(scst_const.h) of the headers scst_user.ko
// was built from, and answers EINVAL on any difference, even when (as from 3.8 to 3.11) the ABI
// did not change (SCST issue #187). In order of trust:
//   1. an explicit string (--scst-version): used as is;
//   2. the installed development headers (scst_itf_ver.h + scst_const.h, e.g. Debian scst-dev);
//   3. the running SCST's version name (/sys/kernel/scst_tgt/version) matched to a release this
//      build knows;
//   4. every release this build knows, newest first (the registration tries them in turn).
// Headers whose scst_user.h differs from the one our layouts follow are refused: the structs we
// would hand the kernel may not be what it reads.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KNOWN_SCST_RELEASES,
  SCST_ABI_DEV_USER_INTF_VER,
  devUserVersion,
  parseScstItfVer,
  parseScstVersionName,
} from '../../ffi/scst-user-abi.ts';

export const DEFAULT_INCLUDE_DIRS = ['/usr/include/scst', '/usr/local/include/scst'];
export const DEFAULT_SYSFS_ROOT = '/sys/kernel/scst_tgt';

export interface VersionChoice {
  /** Strings to try, in order. */
  readonly candidates: readonly string[];
  /** Where they come from, for logs and errors. */
  readonly origin: string;
}

export interface VersionSourceOptions {
  readonly override?: string;
  readonly includeDirs?: readonly string[];
  readonly sysfsRoot?: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

export async function chooseVersion(o: VersionSourceOptions = {}): Promise<VersionChoice> {
  if (o.override !== undefined) {
    if (o.override.length === 0 || o.override.length > 127) throw new Error('the scst_user version string must be 1..127 characters');
    return { candidates: [o.override], origin: 'the --scst-version option' };
  }
  for (const dir of o.includeDirs ?? DEFAULT_INCLUDE_DIRS) {
    const itf = await readText(join(dir, 'scst_itf_ver.h'));
    const constH = await readText(join(dir, 'scst_const.h'));
    if (itf === undefined || constH === undefined) continue;
    const v = parseScstItfVer(itf);
    if (v.devUserIntfVer !== SCST_ABI_DEV_USER_INTF_VER) {
      throw new Error(
        `${join(dir, 'scst_itf_ver.h')}: scst_user.h of this SCST (sha1 ${v.devUserIntfVer}) is not the one fileio_tgt's ABI follows (${SCST_ABI_DEV_USER_INTF_VER}, SCST 3.8 to 3.11); ` +
          'give --scst-version only if you know the layouts are the same',
      );
    }
    return { candidates: [devUserVersion(parseScstVersionName(constH), v.devUserIntfVer, v.constIntfVer)], origin: dir };
  }
  const newestFirst = [...KNOWN_SCST_RELEASES].reverse();
  const all = newestFirst.map((r) => devUserVersion(r.versionName, r.devUserIntfVer, r.constIntfVer));
  const sysfs = join(o.sysfsRoot ?? DEFAULT_SYSFS_ROOT, 'version');
  const text = await readText(sysfs);
  const running = text === undefined ? undefined : /SCST version:\s*(\S+)/.exec(text)?.[1];
  if (running !== undefined) {
    // SCST_VERSION_STRING is the name plus an optional build suffix: the longest known prefix wins.
    const match = newestFirst
      .filter((r) => running.startsWith(r.versionName))
      .sort((a, b) => b.versionName.length - a.versionName.length)[0];
    if (match) {
      const v = devUserVersion(match.versionName, match.devUserIntfVer, match.constIntfVer);
      return { candidates: [v, ...all.filter((x) => x !== v)], origin: `${sysfs} (SCST ${running})` };
    }
  }
  return { candidates: all, origin: `the releases this build knows (${newestFirst.map((r) => r.versionName).join(', ')})` };
}
