// The scst_user ABI contract: gcc's view of kernel/scst_user/scst_user_abi.h (printed by
// kernel/scst_user/abi-check.c) must equal src/ffi/scst-user-abi.ts three ways: the hard-coded
// tables, koffi's layout of the koffi declarations, and _IOC computed in JS. Then the DataView
// codecs are checked byte by byte against buffers built by hand at the documented offsets.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import type * as K from 'koffi';
import {
  ACCEPTED_LICENSES, DEV_USER_NAME, DEV_USER_PATH, EXEC_REPLY_TYPE, GET_CMD_BYTES_WRITTEN, GET_CMD_OFF,
  IOC_DIR, KNOWN_SCST_RELEASES, LAYOUTS, OP_FLAGS, SCST_ABI_DEV_USER_INTF_VER, SCST_USER_CONSTANTS,
  SCST_USER_IOCTLS, SCST_USER_SUBCODES, TM_STATUS, UCMD_STATE, VERSION_LIMITS,
  decodeGetCmd, decodeGetMultiResult, decodeOpt, decodePreallocBufferCmdH, devUserVersion, encodeAllocReply,
  encodeDataDescriptor, encodeDevDesc, encodeExecReply, encodeExecWriteSameReply, encodeExtCopyDataDescr,
  encodeGetCmdPreply, encodeGetExtCdb, encodeGetMulti, encodeOpt, encodeParseErrorReply, encodeParseReply,
  encodePreallocBuffer, encodeRemapReply, encodeResultReply, fieldSigned, getMultiCmdOffset, getMultiSize, ioc,
  iocDir, iocNr, iocSize, iocType, iow, iowr, parseScstItfVer, parseScstVersionName, scstUserKoffiTypes,
  subcodeName, versionCopyLength,
} from '../../src/ffi/scst-user-abi.ts';
import type { LayoutName, StructLayout, UserOpt } from '../../src/ffi/scst-user-abi.ts';

// ---------------------------------------------------------------------------------------------
// gcc side
// ---------------------------------------------------------------------------------------------

interface CField { off: number; size: number; signed: boolean | null }
interface CStruct { size: number; align: number; fields: Record<string, CField> }
interface CAbi {
  abi: string;
  arch: string;
  pointer_size: number;
  structs: Record<string, CStruct>;
  ioctls: Record<string, number>;
  subcodes: Record<string, number>;
  constants: Record<string, number>;
  strings: Record<string, string>;
  limits?: Record<string, number>;
}

const KERNEL_DIR = fileURLToPath(new URL('../../../kernel/scst_user/', import.meta.url));
const CHECK_C = join(KERNEL_DIR, 'abi-check.c');
let workDir = '';
let C: CAbi;

function compileAndRun(out: string, extra: string[]): CAbi {
  const cc = spawnSync('gcc', ['-std=gnu11', '-O0', '-Wall', '-Wextra', '-Werror', ...extra, '-o', out, CHECK_C], {
    encoding: 'utf8',
  });
  if (cc.error && (cc.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error('gcc not found: the scst_user ABI check compiles kernel/scst_user/abi-check.c; install gcc (apt-get install gcc)');
  }
  assert.equal(cc.status, 0, `gcc failed on ${CHECK_C}:\n${cc.stderr}`);
  const run = spawnSync(out, [], { encoding: 'utf8' });
  assert.equal(run.status, 0, `${out} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as CAbi;
}

before(() => {
  assert.ok(existsSync(CHECK_C), `missing ${CHECK_C}`);
  workDir = mkdtempSync(join(tmpdir(), 'scst-user-abi-'));
  C = compileAndRun(join(workDir, 'abi-check'), [`-I${KERNEL_DIR}`]);
});

after(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// comparison helpers (return mismatch lists so a failure names every difference)
// ---------------------------------------------------------------------------------------------

function compareLayouts(c: Record<string, CStruct>, ts: Record<string, StructLayout>): string[] {
  const bad: string[] = [];
  const names = new Set([...Object.keys(c), ...Object.keys(ts)]);
  for (const name of names) {
    const cs = c[name];
    const t = ts[name];
    if (!cs || !t) {
      bad.push(`${name}: only in ${cs ? 'C' : 'TS'}`);
      continue;
    }
    if (cs.size !== t.size) bad.push(`${name}: size C ${cs.size} TS ${t.size}`);
    if (cs.align !== t.align) bad.push(`${name}: align C ${cs.align} TS ${t.align}`);
    const fields = new Set([...Object.keys(cs.fields), ...Object.keys(t.fields)]);
    for (const f of fields) {
      const cf = cs.fields[f];
      const tf = t.fields[f];
      if (!cf || !tf) {
        bad.push(`${name}.${f}: only in ${cf ? 'C' : 'TS'}`);
        continue;
      }
      const [off, size, kind] = tf;
      if (cf.off !== off) bad.push(`${name}.${f}: offset C ${cf.off} TS ${off}`);
      if (cf.size !== size) bad.push(`${name}.${f}: size C ${cf.size} TS ${size}`);
      if (cf.signed !== fieldSigned(kind)) bad.push(`${name}.${f}: signed C ${cf.signed} TS ${kind}`);
    }
  }
  return bad;
}

function compareNumbers(what: string, c: Record<string, number>, ts: Record<string, number>): string[] {
  const bad: string[] = [];
  for (const k of new Set([...Object.keys(c), ...Object.keys(ts)])) {
    if (!(k in c) || !(k in ts)) bad.push(`${what} ${k}: only in ${k in c ? 'C' : 'TS'}`);
    else if (c[k] !== ts[k]) bad.push(`${what} ${k}: C ${c[k]} TS ${ts[k]}`);
  }
  return bad;
}

/** Offset and type of a dotted C field path in a koffi type, looking through `_`-named anonymous members. */
function koffiField(type: K.TypeObject, path: string): { offset: number; type: K.TypeObject } | undefined {
  const find = (t: K.TypeObject, name: string): { offset: number; type: K.TypeObject } | undefined => {
    const members = t.members ?? {};
    const m = members[name];
    if (m) return { offset: m.offset, type: m.type };
    for (const anon of Object.values(members)) {
      if (!anon.name.startsWith('_')) continue;
      const r = find(anon.type, name);
      if (r) return { offset: anon.offset + r.offset, type: r.type };
    }
    return undefined;
  };
  let t = type;
  let offset = 0;
  for (const part of path.split('.')) {
    const r = find(t, part);
    if (!r) return undefined;
    offset += r.offset;
    t = r.type;
  }
  return { offset, type: t };
}

function compareKoffi(ts: Record<string, StructLayout>, types: Record<string, K.TypeObject>): string[] {
  const bad: string[] = [];
  for (const [name, layout] of Object.entries(ts)) {
    const t = types[name];
    if (!t) {
      bad.push(`${name}: no koffi type`);
      continue;
    }
    if (koffi.sizeof(t) !== layout.size) bad.push(`${name}: koffi.sizeof ${koffi.sizeof(t)} TS ${layout.size}`);
    if (koffi.alignof(t) !== layout.align) bad.push(`${name}: koffi.alignof ${koffi.alignof(t)} TS ${layout.align}`);
    for (const [path, [off, size, kind]] of Object.entries(layout.fields)) {
      if (kind === 'flex') continue; // flexible array: not declarable in koffi
      if (!path.includes('.')) {
        // top-level named members: koffi.offsetof itself (anonymous-union members are reached below)
        let direct: number | undefined;
        try {
          direct = koffi.offsetof(t, path);
        } catch {
          direct = undefined;
        }
        if (direct !== undefined && direct !== off) bad.push(`${name}.${path}: koffi.offsetof ${direct} TS ${off}`);
      }
      const f = koffiField(t, path);
      if (!f) {
        bad.push(`${name}.${path}: not in koffi type`);
        continue;
      }
      if (f.offset !== off) bad.push(`${name}.${path}: koffi offset ${f.offset} TS ${off}`);
      if (koffi.sizeof(f.type) !== size) bad.push(`${name}.${path}: koffi size ${koffi.sizeof(f.type)} TS ${size}`);
      const signed = fieldSigned(kind);
      if (signed !== null) {
        const prim = String(f.type.primitive);
        const ksigned = /^Int/.test(prim) ? true : /^UInt/.test(prim) ? false : null;
        if (ksigned !== signed) bad.push(`${name}.${path}: koffi primitive ${prim} TS ${kind}`);
      }
    }
  }
  return bad;
}

// ---------------------------------------------------------------------------------------------
// layouts
// ---------------------------------------------------------------------------------------------

test('gcc compiled the check for a 64-bit target', () => {
  assert.equal(C.abi, 'fileio_tgt');
  assert.equal(C.pointer_size, 8);
  assert.ok(['x86_64', 'aarch64'].includes(C.arch), `unexpected arch ${C.arch}`);
});

test('every struct size, alignment, field offset, field size and signedness: gcc == TS tables', () => {
  assert.deepEqual(compareLayouts(C.structs, LAYOUTS), []);
});

test('every struct and field: koffi layout == TS tables (so koffi == gcc)', () => {
  assert.deepEqual(compareKoffi(LAYOUTS, scstUserKoffiTypes()), []);
  assert.equal(scstUserKoffiTypes(), scstUserKoffiTypes(), 'koffi types are created once');
});

test('the comparison catches a drifted offset, size, sign, missing field and struct size', () => {
  const drifted = structuredClone(C.structs);
  drifted.scst_user_scsi_cmd_exec!.fields.pbuf!.off += 8;
  drifted.scst_user_reply_cmd!.fields['exec_reply.status']!.size = 2;
  drifted.scst_user_opt!.fields.partial_len!.signed = false;
  delete drifted.scst_user_tm!.fields.cmd_sn_set;
  drifted.scst_user_get_cmd!.size = 536;
  const bad = compareLayouts(drifted, LAYOUTS);
  assert.equal(bad.length, 5, bad.join('\n'));
  assert.match(bad.join('\n'), /scst_user_scsi_cmd_exec\.pbuf: offset C 64 TS 56/);
  // and a wrong koffi declaration is caught too
  const wrong = koffi.struct({ parse_type: 'uint8_t', partial_len: 'uint32_t' });
  const kbad = compareKoffi({ scst_user_opt: LAYOUTS.scst_user_opt }, { scst_user_opt: wrong });
  assert.ok(kbad.some((l) => l.includes('koffi.sizeof')) && kbad.some((l) => l.includes('partial_len: koffi primitive')), kbad.join('\n'));
});

test('hot-path offsets match the absolute offsets worked out by hand from scst_user.h', () => {
  // Written out independently of the tables: these are the numbers the link's reviewers will look for.
  assert.deepEqual(
    { pbuf: GET_CMD_OFF.exec_cmd.pbuf, lba: GET_CMD_OFF.exec_cmd.lba, bufflen: GET_CMD_OFF.exec_cmd.bufflen, cdb: GET_CMD_OFF.exec_cmd.cdb },
    { pbuf: 64, lba: 40, bufflen: 56, cdb: 16 },
  );
  const x = LAYOUTS.scst_user_reply_cmd.fields;
  assert.deepEqual(
    [x['exec_reply.resp_data_len']![0], x['exec_reply.pbuf']![0], x['exec_reply.reply_type']![0], x['exec_reply.status']![0],
      x['exec_reply.sense_len']![0], x['exec_reply.psense_buffer']![0]],
    [8, 16, 24, 25, 32, 40],
  );
  assert.deepEqual([x['parse_reply.queue_type']![0], x['parse_reply.lba']![0], x['parse_reply.psense_buffer']![0]], [16, 24, 24]);
  assert.deepEqual(GET_CMD_BYTES_WRITTEN, {
    SCST_USER_ATTACH_SESS: 544, SCST_USER_DETACH_SESS: 544, SCST_USER_PARSE: 88, SCST_USER_ALLOC_MEM: 48,
    SCST_USER_EXEC: 112, SCST_USER_ON_FREE_CMD: 24, SCST_USER_ON_CACHED_MEM_FREE: 16,
    SCST_USER_TASK_MGMT_RECEIVED: 32, SCST_USER_TASK_MGMT_DONE: 32, SCST_USER_EXT_COPY_REMAP: 56,
  });
});

// ---------------------------------------------------------------------------------------------
// ioctl numbers, subcodes, constants, strings
// ---------------------------------------------------------------------------------------------

const IOCTL_DEFS: Record<keyof typeof SCST_USER_IOCTLS, [dir: number, nr: number, arg: LayoutName | null]> = {
  SCST_USER_REGISTER_DEVICE: [IOC_DIR.WRITE, 1, 'scst_user_dev_desc'],
  SCST_USER_UNREGISTER_DEVICE: [IOC_DIR.NONE, 2, null],
  SCST_USER_SET_OPTIONS: [IOC_DIR.WRITE, 3, 'scst_user_opt'],
  SCST_USER_GET_OPTIONS: [IOC_DIR.READ, 4, 'scst_user_opt'],
  SCST_USER_REPLY_AND_GET_CMD: [IOC_DIR.READ | IOC_DIR.WRITE, 5, 'scst_user_get_cmd'],
  SCST_USER_REPLY_CMD: [IOC_DIR.WRITE, 6, 'scst_user_reply_cmd'],
  SCST_USER_FLUSH_CACHE: [IOC_DIR.NONE, 7, null],
  SCST_USER_DEVICE_CAPACITY_CHANGED: [IOC_DIR.NONE, 8, null],
  SCST_USER_GET_EXTENDED_CDB: [IOC_DIR.READ | IOC_DIR.WRITE, 9, 'scst_user_get_ext_cdb'],
  SCST_USER_PREALLOC_BUFFER: [IOC_DIR.READ | IOC_DIR.WRITE, 10, 'scst_user_prealloc_buffer'],
  SCST_USER_REPLY_AND_GET_MULTI: [IOC_DIR.READ | IOC_DIR.WRITE, 11, 'scst_user_get_multi'],
};
const RW = IOC_DIR.READ | IOC_DIR.WRITE;
const SUBCODE_DEFS: Record<keyof typeof SCST_USER_SUBCODES, [dir: number, nr: number, arg: LayoutName]> = {
  SCST_USER_ATTACH_SESS: [IOC_DIR.READ, UCMD_STATE.UCMD_STATE_ATTACH_SESS, 'scst_user_sess'],
  SCST_USER_DETACH_SESS: [IOC_DIR.READ, UCMD_STATE.UCMD_STATE_DETACH_SESS, 'scst_user_sess'],
  SCST_USER_PARSE: [RW, UCMD_STATE.UCMD_STATE_PARSING, 'scst_user_scsi_cmd_parse'],
  SCST_USER_ALLOC_MEM: [RW, UCMD_STATE.UCMD_STATE_BUF_ALLOCING, 'scst_user_scsi_cmd_alloc_mem'],
  SCST_USER_EXEC: [RW, UCMD_STATE.UCMD_STATE_EXECING, 'scst_user_scsi_cmd_exec'],
  SCST_USER_ON_FREE_CMD: [IOC_DIR.READ, UCMD_STATE.UCMD_STATE_ON_FREEING, 'scst_user_scsi_on_free_cmd'],
  SCST_USER_ON_CACHED_MEM_FREE: [IOC_DIR.READ, UCMD_STATE.UCMD_STATE_ON_CACHE_FREEING, 'scst_user_on_cached_mem_free'],
  SCST_USER_TASK_MGMT_RECEIVED: [RW, UCMD_STATE.UCMD_STATE_TM_RECEIVED_EXECING, 'scst_user_tm'],
  SCST_USER_TASK_MGMT_DONE: [RW, UCMD_STATE.UCMD_STATE_TM_DONE_EXECING, 'scst_user_tm'],
  SCST_USER_EXT_COPY_REMAP: [RW, UCMD_STATE.UCMD_STATE_EXT_COPY_REMAPPING, 'scst_user_ext_copy_remap'],
};

test('ioctl numbers: gcc == hard-coded == _IOC(dir, "u", nr, table size) == _IOC(..., koffi.sizeof)', () => {
  assert.deepEqual(compareNumbers('ioctl', C.ioctls, SCST_USER_IOCTLS), []);
  const types = scstUserKoffiTypes();
  for (const [name, [dir, nr, arg]] of Object.entries(IOCTL_DEFS)) {
    const hard = SCST_USER_IOCTLS[name as keyof typeof SCST_USER_IOCTLS];
    assert.equal(ioc(dir, 'u', nr, arg ? LAYOUTS[arg].size : 0), hard, `${name} from the table`);
    assert.equal(ioc(dir, 'u', nr, arg ? koffi.sizeof(types[arg]) : 0), hard, `${name} from koffi.sizeof`);
    assert.equal(iocNr(hard), nr);
    assert.equal(iocType(hard), 'u');
    assert.equal(iocDir(hard), dir);
  }
  // spot values from scst_user.h, and the measured cost of the helper
  assert.equal(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_CMD, 0xc2207505);
  assert.equal(SCST_USER_IOCTLS.SCST_USER_REPLY_AND_GET_MULTI, 0xc010750b);
  assert.equal(iowr('u', 5, 128), 0xc0807505);
  assert.equal(iow('u', 1, 160), 0x40a07501);
  assert.throws(() => ioc(IOC_DIR.WRITE, 'u', 1, 0x4000), RangeError);
});

test('subcodes: gcc == hard-coded == _IOC(dir, "s", UCMD_STATE, payload size); NR is the kernel state', () => {
  assert.deepEqual(compareNumbers('subcode', C.subcodes, SCST_USER_SUBCODES), []);
  const types = scstUserKoffiTypes();
  for (const [name, [dir, nr, arg]] of Object.entries(SUBCODE_DEFS)) {
    const hard = SCST_USER_SUBCODES[name as keyof typeof SCST_USER_SUBCODES];
    assert.equal(ioc(dir, 's', nr, LAYOUTS[arg].size), hard, name);
    assert.equal(ioc(dir, 's', nr, koffi.sizeof(types[arg])), hard, `${name} (koffi)`);
    assert.equal(iocSize(hard), LAYOUTS[arg].size);
    assert.equal(subcodeName(hard), name);
    assert.equal(GET_CMD_BYTES_WRITTEN[name as keyof typeof SCST_USER_SUBCODES], 8 + LAYOUTS[arg].size);
  }
  assert.equal(subcodeName(0x12345678), undefined);
});

test('constants: gcc == TS, same set of names', () => {
  assert.deepEqual(compareNumbers('constant', C.constants, SCST_USER_CONSTANTS), []);
  assert.deepEqual(compareNumbers('limit', C.limits ?? {}, VERSION_LIMITS), []);
  assert.equal(OP_FLAGS.SCST_STRICTLY_SERIALIZED & OP_FLAGS.SCST_SERIALIZED, OP_FLAGS.SCST_SERIALIZED);
});

test('strings: device path, sha1s of the known releases, license', () => {
  assert.equal(C.strings.DEV_USER_NAME, DEV_USER_NAME);
  assert.equal(C.strings.DEV_USER_PATH, DEV_USER_PATH);
  assert.equal(C.strings.SCST_ABI_DEV_USER_INTF_VER, SCST_ABI_DEV_USER_INTF_VER);
  const byTag = Object.fromEntries(KNOWN_SCST_RELEASES.map((r) => [r.tag, r.constIntfVer]));
  assert.equal(C.strings.SCST_ABI_CONST_INTF_VER_3_8, byTag['v3.8']);
  assert.equal(C.strings.SCST_ABI_CONST_INTF_VER_3_9, byTag['v3.9']);
  assert.equal(C.strings.SCST_ABI_CONST_INTF_VER_3_10, byTag['v3.10']);
  assert.equal(C.strings.SCST_ABI_CONST_INTF_VER_3_11_PRE, byTag.master);
  assert.ok((ACCEPTED_LICENSES as readonly string[]).includes(C.strings.SCST_ABI_LICENSE!));
});

// Opt-in, for machines with SCST installed: SCST_INCLUDE_DIR=/usr/include/scst npm test also
// compares our header with SCST's own (done by hand against scst aa5cc2dd: identical).
const upstreamDir = process.env.SCST_INCLUDE_DIR;
if (upstreamDir) test(`SCST's headers in ${upstreamDir} give exactly the same ABI as ours`, () => {
  const dir = upstreamDir;
  for (const f of ['scst_user.h', 'scst_const.h', 'scst_itf_ver.h']) assert.ok(existsSync(join(dir, f)), `${dir}/${f} is missing`);
  const up = compileAndRun(join(workDir, 'abi-check-upstream'), ['-DSCST_ABI_CHECK_UPSTREAM', `-I${dir}`]);
  assert.deepEqual(compareLayouts(up.structs, LAYOUTS), []);
  assert.deepEqual(compareNumbers('ioctl', up.ioctls, SCST_USER_IOCTLS), []);
  assert.deepEqual(compareNumbers('subcode', up.subcodes, SCST_USER_SUBCODES), []);
  assert.deepEqual(compareNumbers('constant', up.constants, SCST_USER_CONSTANTS), []);
  assert.equal(up.strings.DEV_USER_INTF_VER, SCST_ABI_DEV_USER_INTF_VER, 'scst_user.h changed: re-check the ABI');
  assert.equal(
    up.strings.DEV_USER_VERSION,
    devUserVersion(up.strings.SCST_VERSION_NAME!, up.strings.DEV_USER_INTF_VER!, up.strings.SCST_CONST_INTF_VER!),
  );
});

// ---------------------------------------------------------------------------------------------
// version strings
// ---------------------------------------------------------------------------------------------

test('REGISTER_DEVICE version strings and copy lengths', () => {
  const master = devUserVersion('3.11.0-pre', SCST_ABI_DEV_USER_INTF_VER, 'f03678ef2265294f64bc9fca39567ca80671f7d8');
  assert.equal(master, '3.11.0-pre230a30730ec749a9738ef33d6d17b1e6739bd195f03678ef2265294f64bc9fca39567ca80671f7d8');
  assert.equal(versionCopyLength(master), 91);
  assert.equal(versionCopyLength(devUserVersion('3.10.0', SCST_ABI_DEV_USER_INTF_VER, KNOWN_SCST_RELEASES[2]!.constIntfVer)), 87);
  assert.equal(versionCopyLength('x'), 20);
  assert.throws(() => devUserVersion('3.10.0', 'nothex', SCST_ABI_DEV_USER_INTF_VER), RangeError);
  const itf = '/* Autogenerated, don\'t edit */\n\n#define SCST_INTF_VER "5442613c01f44f636afae339e1fda3f573b841ed"\n' +
    '#define SCST_CONST_INTF_VER "f03678ef2265294f64bc9fca39567ca80671f7d8"\n' +
    '#define DEV_USER_INTF_VER "230a30730ec749a9738ef33d6d17b1e6739bd195"\n';
  assert.deepEqual(parseScstItfVer(itf), {
    scstIntfVer: '5442613c01f44f636afae339e1fda3f573b841ed',
    constIntfVer: 'f03678ef2265294f64bc9fca39567ca80671f7d8',
    devUserIntfVer: SCST_ABI_DEV_USER_INTF_VER,
  });
  assert.throws(() => parseScstItfVer('#define SCST_INTF_VER "x"'), /not found/);
  assert.equal(parseScstVersionName('#define SCST_VERSION_NAME\t\t"3.10.0"\n'), '3.10.0');
});

// ---------------------------------------------------------------------------------------------
// decoders: hand-built scst_user_get_cmd buffers (offsets written out literally)
// ---------------------------------------------------------------------------------------------

/** A get_multi buffer with `n` slots, filled with 0xa5 garbage (stale bytes must not leak in). */
function multiBuffer(n: number): { u8: Uint8Array; dv: DataView } {
  const ab = new ArrayBuffer(64 + getMultiSize(n)); // +64: the argument does not start at 0
  const u8 = new Uint8Array(ab).fill(0xa5);
  return { u8, dv: new DataView(ab) };
}

test('decode EXEC in slot 1 of a REPLY_AND_GET_MULTI buffer', () => {
  const { u8, dv } = multiBuffer(2);
  const base = 64 + 16 + 544; // slot 1
  assert.equal(getMultiCmdOffset(64, 1), base);
  dv.setUint32(base + 0, 0x01020304, true);
  dv.setUint32(base + 4, 0xc0687303, true);
  dv.setBigUint64(base + 8, 0xffff8881_23456789n, true); // sess_h
  u8.set([0x8a, 0x08, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0], base + 16); // WRITE(16)
  dv.setUint16(base + 32, 16, true);
  dv.setBigInt64(base + 40, 2n ** 40n + 5n, true); // lba
  dv.setBigInt64(base + 48, 1048576n, true); // data_len
  dv.setInt32(base + 56, 1048576, true); // bufflen
  dv.setInt32(base + 60, 1048576, true); // alloc_len
  dv.setBigUint64(base + 64, 0x7f00_1234_5000n, true); // pbuf
  u8[base + 72] = 1; // queue_type SIMPLE
  u8[base + 73] = 1; // WRITE
  u8[base + 74] = 0; // partial
  dv.setInt32(base + 76, 30, true); // timeout
  dv.setBigUint64(base + 80, 0n, true); // p_out_buf
  dv.setInt32(base + 88, 0, true);
  dv.setUint32(base + 92, 0xdeadbeef, true); // sn
  const cmd = decodeGetCmd(dv, base);
  assert.equal(cmd.kind, 'exec');
  if (cmd.kind !== 'exec') return;
  assert.equal(cmd.cmd_h, 0x01020304);
  assert.equal(cmd.subcode, SCST_USER_SUBCODES.SCST_USER_EXEC);
  assert.equal(cmd.sess_h, 0xffff8881_23456789n);
  assert.deepEqual([...cmd.cdb], [0x8a, 0x08, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0]);
  assert.equal(cmd.lba, 2 ** 40 + 5);
  assert.equal(cmd.data_len, 1048576);
  assert.equal(cmd.bufflen, 1048576);
  assert.equal(cmd.alloc_len, 1048576);
  assert.equal(cmd.pbuf, 0x7f00_1234_5000n);
  assert.equal(cmd.queue_type, 1);
  assert.equal(cmd.data_direction, 1);
  assert.equal(cmd.partial, 0);
  assert.equal(cmd.timeout, 30);
  assert.equal(cmd.p_out_buf, 0n);
  assert.equal(cmd.out_bufflen, 0);
  assert.equal(cmd.sn, 0xdeadbeef);
  // the CDB is a copy: reusing the slot does not change the decoded command
  u8.fill(0, base, base + 544);
  assert.equal(cmd.cdb[0], 0x8a);
});

test('decode EXEC with a short CDB, a negative lba and pbuf 0', () => {
  const { u8, dv } = multiBuffer(1);
  const base = 64 + 16;
  dv.setUint32(base + 4, 0xc0687303, true);
  u8.set([0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0], base + 16); // READ(10); bytes 10..15 stay garbage
  dv.setUint16(base + 32, 10, true);
  dv.setBigInt64(base + 40, -1n, true);
  dv.setBigUint64(base + 64, 0n, true);
  dv.setInt32(base + 60, 8192, true);
  const cmd = decodeGetCmd(dv, base);
  assert.ok(cmd.kind === 'exec');
  assert.equal(cmd.cdb.length, 10);
  assert.equal(cmd.lba, -1);
  assert.equal(cmd.pbuf, 0n);
  assert.equal(cmd.alloc_len, 8192);
});

test('decode PARSE, ALLOC_MEM, ON_FREE_CMD, ON_CACHED_MEM_FREE', () => {
  const { u8, dv } = multiBuffer(1);
  const b = 64 + 16;
  // PARSE
  dv.setUint32(b, 7, true);
  dv.setUint32(b + 4, 0xc0507301, true);
  dv.setBigUint64(b + 8, 42n, true);
  u8.set([0xc0, 1, 2, 3, 4, 5], b + 16);
  dv.setUint16(b + 32, 6, true);
  dv.setBigInt64(b + 40, 100n, true);
  dv.setBigInt64(b + 48, 512n, true);
  dv.setInt32(b + 56, 512, true);
  dv.setInt32(b + 60, 0, true);
  dv.setInt32(b + 64, 60, true);
  dv.setUint32(b + 68, 0x220, true);
  u8[b + 72] = 3;
  u8[b + 73] = 2;
  u8[b + 74] = 1;
  u8[b + 75] = 2;
  dv.setInt32(b + 76, 512, true);
  dv.setInt32(b + 80, 0, true);
  dv.setUint32(b + 84, 99, true);
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'parse', cmd_h: 7, subcode: 0xc0507301, sess_h: 42n, cdb: new Uint8Array([0xc0, 1, 2, 3, 4, 5]), cdb_len: 6,
    lba: 100, data_len: 512, bufflen: 512, out_bufflen: 0, timeout: 60, op_flags: 0x220, queue_type: 3,
    data_direction: 2, expected_values_set: 1, expected_data_direction: 2, expected_transfer_len: 512,
    expected_out_transfer_len: 0, sn: 99,
  });
  // ALLOC_MEM
  u8.fill(0xa5, b, b + 544);
  dv.setUint32(b, 8, true);
  dv.setUint32(b + 4, 0xc0287302, true);
  dv.setBigUint64(b + 8, 43n, true);
  u8.set([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0], b + 16);
  dv.setUint16(b + 32, 10, true);
  dv.setInt32(b + 36, 4096, true);
  u8[b + 40] = 2;
  u8[b + 41] = 1;
  dv.setUint32(b + 44, 5, true);
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'alloc_mem', cmd_h: 8, subcode: 0xc0287302, sess_h: 43n, cdb: new Uint8Array([0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0]),
    cdb_len: 10, alloc_len: 4096, queue_type: 2, data_direction: 1, sn: 5,
  });
  // ON_FREE_CMD: delivery_status is a __u8 holding -1 / -2
  u8.fill(0xa5, b, b + 544);
  dv.setUint32(b, 9, true);
  dv.setUint32(b + 4, 0x80107304, true);
  dv.setBigUint64(b + 8, 0x7f0000001000n, true);
  dv.setInt32(b + 16, 4096, true);
  u8[b + 20] = 1;
  u8[b + 21] = 0;
  u8[b + 22] = 2; // CHECK CONDITION
  u8[b + 23] = 0xff;
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'on_free', cmd_h: 9, subcode: 0x80107304, pbuf: 0x7f0000001000n, resp_data_len: 4096, buffer_cached: 1,
    aborted: 0, status: 2, delivery_status: -1,
  });
  u8[b + 23] = 0xfe;
  const f = decodeGetCmd(dv, b);
  assert.ok(f.kind === 'on_free' && f.delivery_status === -2);
  // ON_CACHED_MEM_FREE
  dv.setUint32(b + 4, 0x80087305, true);
  assert.deepEqual(decodeGetCmd(dv, b), { kind: 'on_cached_mem_free', cmd_h: 9, subcode: 0x80087305, pbuf: 0x7f0000001000n });
});

test('decode ATTACH_SESS, DETACH_SESS, TASK_MGMT_*, EXT_COPY_REMAP and an unknown subcode', () => {
  const { u8, dv } = multiBuffer(1);
  const b = 64 + 16;
  dv.setUint32(b, 1, true);
  dv.setUint32(b + 4, 0x82187320, true);
  dv.setBigUint64(b + 8, 0xffff888100000000n, true);
  dv.setBigUint64(b + 16, 3n, true);
  dv.setUint16(b + 24, 2, true);
  u8[b + 26] = 1;
  dv.setUint16(b + 28, 0x0960, true);
  dv.setUint16(b + 30, 0, true);
  const ini = 'iqn.1993-08.org.debian:01:abc';
  const tgt = 'iqn.2026-11.org.fileio-tgt:disk1';
  u8.set(Buffer.from(ini + '\0'), b + 32);
  u8.set(Buffer.from(tgt + '\0'), b + 288);
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'attach_sess', cmd_h: 1, subcode: 0x82187320, sess_h: 0xffff888100000000n, lun: 3n, threads_num: 2,
    rd_only: 1, scsi_transport_version: 0x0960, phys_transport_version: 0, initiator_name: ini, target_name: tgt,
  });
  dv.setUint32(b + 4, 0x82187321, true);
  assert.equal(decodeGetCmd(dv, b).kind, 'detach_sess');

  u8.fill(0xa5, b, b + 544);
  dv.setUint32(b, 2, true);
  dv.setUint32(b + 4, 0xc0187308, true);
  dv.setBigUint64(b + 8, 77n, true);
  dv.setUint32(b + 16, 0, true); // ABORT_TASK
  dv.setUint32(b + 20, 1234, true);
  dv.setUint32(b + 24, 55, true);
  u8[b + 28] = 1;
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'tm_received', cmd_h: 2, subcode: 0xc0187308, sess_h: 77n, fn: 0, cmd_h_to_abort: 1234, cmd_sn: 55, cmd_sn_set: 1,
  });
  dv.setUint32(b + 4, 0xc0187309, true);
  assert.equal(decodeGetCmd(dv, b).kind, 'tm_done');

  u8.fill(0xa5, b, b + 544);
  dv.setUint32(b, 3, true);
  dv.setUint32(b + 4, 0xc0307306, true);
  dv.setBigUint64(b + 8, 1n, true);
  dv.setBigUint64(b + 16, 2n, true);
  dv.setBigUint64(b + 24, 3n, true);
  dv.setBigUint64(b + 32, 1000n, true);
  dv.setBigUint64(b + 40, 2000n, true);
  dv.setInt32(b + 48, 65536, true);
  assert.deepEqual(decodeGetCmd(dv, b), {
    kind: 'ext_copy_remap', cmd_h: 3, subcode: 0xc0307306, sess_h: 1n, src_sess_h: 2n, dst_sess_h: 3n,
    src_lba: 1000n, dst_lba: 2000n, data_len: 65536,
  });

  dv.setUint32(b + 4, 0xc0ff73ff, true);
  assert.deepEqual(decodeGetCmd(dv, b), { kind: 'unknown', cmd_h: 3, subcode: 0xc0ff73ff });
});

// ---------------------------------------------------------------------------------------------
// encoders: every byte of the 56-byte reply is checked
// ---------------------------------------------------------------------------------------------

/** Encodes into a 0xee-filled buffer at offset 8 and returns the 56 reply bytes plus the guard bytes. */
function encoded(fn: (dv: DataView, base: number) => void): { reply: number[]; guards: number[] } {
  const ab = new ArrayBuffer(8 + 56 + 8);
  new Uint8Array(ab).fill(0xee);
  fn(new DataView(ab), 8);
  const all = [...new Uint8Array(ab)];
  return { reply: all.slice(8, 64), guards: [...all.slice(0, 8), ...all.slice(64)] };
}
const GUARDS = new Array<number>(16).fill(0xee);
function expected(parts: [off: number, bytes: number[]][]): number[] {
  const out = new Array<number>(56).fill(0);
  for (const [off, bytes] of parts) bytes.forEach((v, i) => (out[off + i] = v));
  return out;
}
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const le64 = (v: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));

test('encode EXEC COMPLETED reply with data, pbuf and sense', () => {
  const r = encoded((dv, b) =>
    encodeExecReply(dv, b, 0x11223344, {
      resp_data_len: 4096, pbuf: 0x7f0012345000n, status: 2, sense_len: 18, psense_buffer: 0x7f00000a0000n,
    }));
  assert.deepEqual(r.guards, GUARDS);
  assert.deepEqual(r.reply, expected([
    [0, le32(0x11223344)], [4, le32(0xc0687303)], [8, le32(4096)], [16, le64(0x7f0012345000n)],
    [24, [EXEC_REPLY_TYPE.SCST_EXEC_REPLY_COMPLETED, 2]], [32, [18]], [40, le64(0x7f00000a0000n)],
  ]));
  // defaults: COMPLETED, GOOD, nothing else
  assert.deepEqual(encoded((dv, b) => encodeExecReply(dv, b, 5, {})).reply, expected([[0, le32(5)], [4, le32(0xc0687303)], [24, [1]]]));
  assert.deepEqual(
    encoded((dv, b) => encodeExecReply(dv, b, 5, { reply_type: EXEC_REPLY_TYPE.SCST_EXEC_REPLY_BACKGROUND })).reply,
    expected([[0, le32(5)], [4, le32(0xc0687303)]]),
  );
});

test('encode EXEC DO_WRITE_SAME reply and WRITE SAME descriptors', () => {
  const r = encoded((dv, b) => encodeExecWriteSameReply(dv, b, 6, 32, 0x7f0000002000n));
  assert.deepEqual(r.reply, expected([[0, le32(6)], [4, le32(0xc0687303)], [24, [2, 0]], [32, [32, 0]], [40, le64(0x7f0000002000n)]]));
  const ab = new ArrayBuffer(32);
  const dv = new DataView(ab);
  encodeDataDescriptor(dv, 0, 2n ** 33n, 16);
  encodeDataDescriptor(dv, 16, 0, 0);
  assert.deepEqual([...new Uint8Array(ab)], [...le64(2n ** 33n), ...le64(16n), ...new Array<number>(16).fill(0)]);
});

test('encode PARSE replies (success and error)', () => {
  const ok = encoded((dv, b) =>
    encodeParseReply(dv, b, 9, {
      queue_type: 1, data_direction: 2, cdb_len: 10, lba: 2 ** 35, data_len: 8192, bufflen: 8192,
      op_flags: OP_FLAGS.SCST_INFO_VALID | OP_FLAGS.SCST_WRITE_MEDIUM, out_bufflen: 0,
    }));
  assert.deepEqual(ok.guards, GUARDS);
  assert.deepEqual(ok.reply, expected([
    [0, le32(9)], [4, le32(0xc0507301)], [8, [0]], [16, [1, 2, 10, 0]], [24, le64(2n ** 35n)], [32, le64(8192n)],
    [40, le32(8192)], [44, le32(0x220)], [48, le32(0)],
  ]));
  const negative = encoded((dv, b) =>
    encodeParseReply(dv, b, 9, { queue_type: 0, data_direction: 4, cdb_len: 6, lba: -1n, data_len: 0, bufflen: 0, op_flags: 0x20 }));
  assert.deepEqual(negative.reply.slice(24, 32), le64(-1n));
  const err = encoded((dv, b) => encodeParseErrorReply(dv, b, 9, 2, 18, 0x7f00000b0000n));
  assert.deepEqual(err.reply, expected([[0, le32(9)], [4, le32(0xc0507301)], [8, [2]], [16, [18]], [24, le64(0x7f00000b0000n)]]));
  assert.throws(() => encodeParseErrorReply(new DataView(new ArrayBuffer(56)), 0, 9, 0), RangeError);
});

test('encode ALLOC_MEM, result and REMAP replies', () => {
  assert.deepEqual(
    encoded((dv, b) => encodeAllocReply(dv, b, 10, 0x7f0000400000n)).reply,
    expected([[0, le32(10)], [4, le32(0xc0287302)], [8, le64(0x7f0000400000n)]]),
  );
  assert.deepEqual(
    encoded((dv, b) => encodeResultReply(dv, b, 11, SCST_USER_SUBCODES.SCST_USER_TASK_MGMT_DONE, TM_STATUS.SCST_MGMT_STATUS_FAILED)).reply,
    expected([[0, le32(11)], [4, le32(0xc0187309)], [8, [0x7f, 0xff, 0xff, 0xff]]]),
  );
  assert.deepEqual(
    encoded((dv, b) => encodeResultReply(dv, b, 12, SCST_USER_SUBCODES.SCST_USER_ATTACH_SESS)).reply,
    expected([[0, le32(12)], [4, le32(0x82187320)]]),
  );
  assert.deepEqual(
    encoded((dv, b) => encodeRemapReply(dv, b, 13, { remap_descriptors: 0x7f0000003000n, remap_descriptors_len: 48, status: 0, sense_len: 0 })).reply,
    expected([[0, le32(13)], [4, le32(0xc0307306)], [8, le64(0x7f0000003000n)], [16, [48, 0, 0, 0]]]),
  );
  assert.deepEqual(
    encoded((dv, b) => encodeRemapReply(dv, b, 13, { status: 2, sense_len: 18, psense_buffer: 0x1000n })).reply,
    expected([[0, le32(13)], [4, le32(0xc0307306)], [16, [0, 0, 2, 18]], [24, le64(0x1000n)]]),
  );
});

test('REPLY_AND_GET_CMD preply, REPLY_AND_GET_MULTI header and result', () => {
  const { u8, dv } = multiBuffer(2);
  encodeGetCmdPreply(dv, 80, 0x7f0000005000n);
  assert.deepEqual([...u8.subarray(80, 96)], [...new Array<number>(8).fill(0xa5), ...le64(0x7f0000005000n)]);

  encodeGetMulti(dv, 64, 0x7f0000006000n, 3, 2);
  assert.deepEqual([...u8.subarray(64, 80)], [...le64(0x7f0000006000n), 3, 0, 0, 0, 2, 0, 0, 0]);
  assert.equal(u8[80], 0xa5, 'slots are left alone');
  // the kernel writes replies_done and cmds_cnt
  dv.setInt16(64 + 10, 1, true);
  dv.setInt16(64 + 12, 0, true);
  assert.deepEqual(decodeGetMultiResult(dv, 64), { replies_done: 1, cmds_cnt: 0 });
  assert.equal(getMultiSize(2), 16 + 2 * 544);
  assert.equal(getMultiCmdOffset(0, 0), 16);
  assert.throws(() => encodeGetMulti(dv, 64, 0n, 0x8000, 1), RangeError);
});

const OPTS: UserOpt = {
  parse_type: 2, on_free_cmd_type: 1, memory_reuse_type: 3, partial_transfers_type: 0, partial_len: -7,
  tst: 1, tmf_only: 0, queue_alg: 1, qerr: 3, tas: 1, swp: 0, d_sense: 1, has_own_order_mgmt: 0,
  ext_copy_remap_supported: 1,
};

test('encode/decode scst_user_opt and scst_user_dev_desc', () => {
  const ab = new ArrayBuffer(200);
  const u8 = new Uint8Array(ab).fill(0xcc);
  const dv = new DataView(ab);
  encodeOpt(dv, 4, OPTS);
  assert.deepEqual([...u8.subarray(4, 24)], [2, 1, 3, 0, ...le32(-7 >>> 0), 1, 0, 1, 3, 1, 0, 1, 0, 1, 0, 0, 0]);
  assert.deepEqual(decodeOpt(dv, 4), OPTS);

  u8.fill(0xcc);
  encodeDevDesc(dv, 8, {
    version_str: 0x7f0000007000n, license_str: 0x7f0000007080n, type: 5, sgv_single_alloc_pages: 0,
    sgv_purge_interval: -1, opt: OPTS, block_size: 2048, name: 'cd0',
  });
  const d = u8.subarray(8, 168);
  const want = new Array<number>(160).fill(0);
  want.splice(0, 8, ...le64(0x7f0000007000n));
  want.splice(8, 8, ...le64(0x7f0000007080n));
  want[16] = 5;
  want.splice(24, 4, 0xff, 0xff, 0xff, 0xff);
  want.splice(28, 20, 2, 1, 3, 0, ...le32(-7 >>> 0), 1, 0, 1, 3, 1, 0, 1, 0, 1, 0, 0, 0);
  want.splice(48, 4, ...le32(2048));
  want.splice(53, 3, 0x63, 0x64, 0x30); // "cd0", sgv_name "" at 103
  assert.deepEqual([...d], want);
  assert.equal(u8[168], 0xcc);
  assert.throws(
    () => encodeDevDesc(dv, 8, { version_str: 0n, license_str: 0n, type: 0, opt: OPTS, block_size: 512, name: 'x'.repeat(50) }),
    RangeError,
  );
});

test('encode GET_EXTENDED_CDB, PREALLOC_BUFFER and EXTENDED COPY descriptors', () => {
  const ab = new ArrayBuffer(24);
  const u8 = new Uint8Array(ab).fill(0xcc);
  const dv = new DataView(ab);
  encodeGetExtCdb(dv, 0, 77, 0x7f0000008000n);
  assert.deepEqual([...u8.subarray(0, 16)], [...le32(77), 0, 0, 0, 0, ...le64(0x7f0000008000n)]);
  encodePreallocBuffer(dv, 0, 0x7f0000200000n, 1 << 20, 1);
  assert.deepEqual([...u8.subarray(0, 16)], [...le64(0x7f0000200000n), ...le32(1 << 20), 1, 0, 0, 0]);
  dv.setUint32(0, 4242, true); // the kernel's answer overlays the input
  assert.equal(decodePreallocBufferCmdH(dv, 0), 4242);
  encodeExtCopyDataDescr(dv, 0, 10n, 20n, 4096);
  assert.deepEqual([...u8], [...le64(10n), ...le64(20n), ...le32(4096), 0, 0, 0, 0]);
});
