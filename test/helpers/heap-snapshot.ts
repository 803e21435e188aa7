// Counts in a V8 heap snapshot (the JSON of v8.getHeapSnapshot() or --heapsnapshot-signal):
// live objects per constructor name, and the bytes of ArrayBuffer contents (buffer pools).

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapCounts {
  /** Objects per constructor name, for the names asked for. */
  objects: Map<string, number>;
  /** Bytes of all nodes (JS heap and ArrayBuffer contents). */
  totalBytes: number;
  /** Bytes of ArrayBuffer contents (native backing stores). */
  arrayBufferBytes: number;
}

export function heapCounts(json: string, names: readonly string[]): HeapCounts {
  const snap = JSON.parse(json) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const ti = fields.indexOf('type');
  const ni = fields.indexOf('name');
  const si = fields.indexOf('self_size');
  const objects = new Map(names.map((n) => [n, 0]));
  let totalBytes = 0;
  let arrayBufferBytes = 0;
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const size = snap.nodes[i + si]!;
    totalBytes += size;
    const type = types[snap.nodes[i + ti]!];
    const name = snap.strings[snap.nodes[i + ni]!]!;
    if (type === 'native' && name === 'system / JSArrayBufferData') arrayBufferBytes += size;
    else if (type === 'object' && objects.has(name)) objects.set(name, objects.get(name)! + 1);
  }
  return { objects, totalBytes, arrayBufferBytes };
}

/** The objects of a closed iSCSI connection or session: none may outlive it. */
export const ISCSI_CONNECTION_OBJECTS = ['IscsiConnection', 'IscsiSession', 'LoginPhase', 'LoginNegotiator', 'TextPhase', 'PduReader', 'Task', 'WriteCollector'] as const;
