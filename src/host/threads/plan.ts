// Which thread serves which targets. A target's devices live in exactly one thread (their state:
// reservations, unit attentions, caches, tape positions, is in one place), so targets that share
// a device, or whose devices name each other (a changer and its drives), go together. Groups are
// dealt out largest first to the thread with the fewest LUNs so far.
import type { ServeConfig, TargetConfig } from '../config.ts';
import { targetDevices } from '../acl.ts';

/** The targets (and their devices, in config order) of each thread; at most `threads` of them, none empty. */
export function planThreads(cfg: ServeConfig, threads: number): ServeConfig[] {
  const groups = targetGroups(cfg);
  const n = Math.max(1, Math.min(Math.floor(threads), groups.length));
  const bins: Array<{ targets: TargetConfig[]; luns: number }> = Array.from({ length: n }, () => ({ targets: [], luns: 0 }));
  const bySize = [...groups].sort((a, b) => lunCount(b) - lunCount(a));
  for (const g of bySize) {
    const bin = bins.reduce((best, b) => (b.luns < best.luns ? b : best));
    bin.targets.push(...g);
    bin.luns += lunCount(g);
  }
  return bins.map((b) => {
    // targets in config order, devices in config order (a changer after its drives, as given)
    const targets = cfg.targets.filter((t) => b.targets.includes(t));
    const names = new Set(targets.flatMap(targetDevices));
    for (const d of cfg.devices) if (names.has(d.name)) for (const r of referencedDevices(d.options)) names.add(r);
    return { ...cfg, targets, devices: cfg.devices.filter((d) => names.has(d.name)) };
  });
}

/** Targets joined by shared or referenced devices (union-find over target indexes). */
function targetGroups(cfg: ServeConfig): TargetConfig[][] {
  const parent = cfg.targets.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const ownerOf = new Map<string, number>();
  const join = (device: string, t: number): void => {
    const o = ownerOf.get(device);
    if (o === undefined) ownerOf.set(device, t);
    else parent[find(o)] = find(t);
  };
  cfg.targets.forEach((t, i) => {
    for (const device of targetDevices(t)) {
      join(device, i);
      const dev = cfg.devices.find((d) => d.name === device);
      for (const r of referencedDevices(dev?.options)) join(r, i);
    }
  });
  const groups = new Map<number, TargetConfig[]>();
  cfg.targets.forEach((t, i) => {
    const root = find(i);
    groups.set(root, [...(groups.get(root) ?? []), t]);
  });
  return [...groups.values()];
}

/** Device names a device's handler options refer to (a changer's drives). */
function referencedDevices(options: Record<string, unknown> | undefined): string[] {
  const drives = options?.drives;
  return Array.isArray(drives) ? drives.filter((d): d is string => typeof d === 'string') : [];
}

function lunCount(targets: readonly TargetConfig[]): number {
  return targets.reduce((n, t) => n + targetDevices(t).length, 0);
}
