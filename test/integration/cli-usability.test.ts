// What a newcomer meets on the command line: the control socket and `status` for every device
// type, and messages that say what is actually missing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, run, runCli, startTarget } from '../helpers/target-process.ts';

const MiB = 1 << 20;

describe('status and the control socket', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fileio-use-'));
    await writeFile(join(dir, 'd.img'), '');
    await truncate(join(dir, 'd.img'), 4 * MiB);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a disk-only target opens the control socket by default, like cdrom and tape', async () => {
    const env = { FILEIO_TGT_CONTROL: join(dir, 'default.sock') };
    const t = await startTarget(['disk1', join(dir, 'd.img')], 1, 20_000, undefined, env);
    try {
      const human = await runCli(['status'], 20_000, env);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /^link on 127\.0\.0\.1:\d+: 0 session\(s\), 0 commands$/m);
      assert.match(human.stdout, /^disk1: disk .*blocks=8192 .*commands=0/m);
      const json = await runCli(['status', '--json'], 20_000, env);
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual((JSON.parse(json.stdout) as { devices: Array<{ name: string }> }).devices.map((d) => d.name), ['disk1']);
    } finally {
      await t.stop();
    }
  });

  test('--no-control opens none, and status then says what is missing', async () => {
    const env = { FILEIO_TGT_CONTROL: join(dir, 'none.sock') };
    const t = await startTarget(['--no-control', 'disk1', join(dir, 'd.img')], 1, 20_000, undefined, env);
    try {
      const r = await runCli(['status'], 20_000, env);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `fileio_tgt status: no control socket ${env.FILEIO_TGT_CONTROL}: no fileio_tgt is running with this path (a running fileio_tgt prints "control socket: PATH" when it starts; pass that PATH with --control or FILEIO_TGT_CONTROL; one started with --no-control has none)`,
      );
    } finally {
      await t.stop();
    }
  });

  test('a shrunk image is refused on SIGUSR2 and by resize, accepted by resize --shrink; the log names the device once', async () => {
    const env = { FILEIO_TGT_CONTROL: join(dir, 'shrink.sock') };
    const img = join(dir, 's.img');
    await writeFile(img, '');
    await truncate(img, 4 * MiB);
    const t = await startTarget(['s1', img], 1, 20_000, undefined, env);
    const blocks = async () => {
      const r = await runCli(['status', '--json'], 20_000, env);
      return (JSON.parse(r.stdout) as { devices: Array<{ blocks: string }> }).devices[0]!.blocks;
    };
    try {
      await truncate(img, 3 * MiB);
      t.proc.kill('SIGUSR2');
      await until(() => /shrank/.test(t.stderr()), () => t.stderr() + String(t.proc.exitCode) + String(t.proc.signalCode));
      assert.match(t.stderr(), /"message":"s1: .*s\.img shrank from 4194304 to 3145728 bytes: refused, initiators would lose what lies past byte 3145728 \(restore the size, or accept it with: fileio_tgt resize --shrink NAME\); keeping 4194304"/);
      assert.equal(await blocks(), '8192', 'the old capacity stays');
      const refused = await runCli(['resize', 's1'], 20_000, env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^fileio_tgt resize: s1: .*shrank from 4194304 to 3145728 bytes: refused/);
      const forced = await runCli(['resize', '--shrink', 's1'], 20_000, env);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.stdout, 'resized: s1\n');
      assert.equal(await blocks(), '6144');
      assert.match(t.stderr(), /"message":"s1: capacity 8192 -> 6144 blocks"/);
      const unknown = await runCli(['resize', 'nosuch'], 20_000, env);
      assert.match(unknown.stderr, /no device "nosuch" \(devices: s1\)/);
    } finally {
      await t.stop();
    }
  });
});

describe('messages', () => {
  test('an image that cannot be opened for writing but can be read: the error words the errno and points at -r', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileio-ro-'));
    try {
      const img = join(dir, 'ro.img');
      await writeFile(img, Buffer.alloc(MiB));
      // root opens anything: run the CLI as nobody, for whom the 0644 root-owned file is read-only
      const asRoot = process.getuid?.() === 0;
      await chmod(dir, 0o755);
      await chmod(img, asRoot ? 0o644 : 0o444);
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn(CLI, ['--portal', '127.0.0.1:0', '--no-control', 'd1', img], { ...(asRoot ? { uid: 65534, gid: 65534 } : {}), stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
        const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
        p.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stderr: err });
        });
      });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `fileio_tgt: d1: cannot open ${img}: permission denied (EACCES); it can be read: -r (readOnly: true) serves it read-only\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('an empty folder of ISOs', () => {
  test('says it is there and waits for images, instead of printing nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileio-empty-'));
    const p = spawn(CLI, ['--portal', '127.0.0.1:0', '--no-control', '--type', 'cdrom', 'dvds', `${dir}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      await until(() => /listening/.test(err), () => err);
      assert.match(err, new RegExp(`^fileio_tgt: dvds: no images in ${dir}/ yet; iqn\\.2026-11\\.org\\.fileio-tgt:dvds serves each \\*\\.iso/\\*\\.img copied in as a new LUN$`, 'm'));
    } finally {
      p.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('help', () => {
  test('--help lists the subcommands and how to make an image; help is a command', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    for (const cmd of ['disk create --size 10G FILE', 'status [--json]', 'media load|eject|swap|status NAME [FILE]', 'resize [--shrink] [NAME...]', 'tape create|info', 'help [COMMAND]']) {
      assert.ok(top.stdout.includes(`fileio_tgt ${cmd}`), `--help lists ${cmd}`);
    }
    assert.match(top.stdout, /truncate -s 10G disk\.img/);
    const help = await runCli(['help']);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stdout, top.stdout);
    const media = await runCli(['help', 'media']);
    assert.equal(media.code, 0, media.stderr);
    assert.match(media.stdout, /^Usage: fileio_tgt media \[options\] <action> <name> \[iso\]/);
    const nope = await runCli(['help', 'nope']);
    assert.equal(nope.code, 1);
    assert.equal(nope.stderr, 'fileio_tgt help: no command "nope" (commands: disk, status, media, resize, tape, help)\n');
  });
});

describe('a tape drive through the control socket', () => {
  test('media status shows the cartridge; media eject says what media does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileio-tape-'));
    const env = { FILEIO_TGT_CONTROL: join(dir, 'c.sock') };
    const cart = join(dir, 'A00001L6');
    assert.equal((await runCli(['tape', 'create', '--barcode', 'A00001L6', '--size', '64M', cart])).code, 0);
    const t = await startTarget(['--type', 'tape', 'tape0', cart], 1, 20_000, undefined, env);
    try {
      const st = await runCli(['media', 'status', 'tape0'], 20_000, env);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^tape0: tape drive, cartridge A00001L6, loaded, 0 of 64000000 bytes used, density 0x5a\n$/);
      const ej = await runCli(['media', 'eject', 'tape0'], 20_000, env);
      assert.equal(ej.code, 1);
      assert.equal(ej.stderr, 'fileio_tgt media: tape0 is a tape drive: fileio_tgt media eject changes the discs of cdrom drives (a tape is loaded and unloaded by its initiator or a library\'s changer)\n');
    } finally {
      await t.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('started by npm', () => {
  test('the target stops when the npm process that started it goes away', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileio-npm-'));
    const pidFile = join(dir, 'node.pid');
    // stands for npm exec: its process title starts with "npm", it runs the bin under sh -c, and
    // it passes no signal on; killing it orphans the target
    await writeFile(join(dir, 'fake-npm.sh'), `sh -c '"$0" --json --portal 127.0.0.1:0 --no-control -n n1 1M & echo $! > "$1"; wait' "$1" "$2"\n`);
    const npm = spawn('bash', ['-c', `exec -a "npm exec fileio_tgt" sh ${join(dir, 'fake-npm.sh')} ${CLI} ${pidFile}`], {
      env: { ...process.env, npm_command: 'exec' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    npm.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    npm.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      await until(() => /"event":"serving"/.test(out), () => err);
      npm.kill('SIGKILL');
      await until(() => /"event":"stopped"/.test(out), () => `${out}${err}`);
      assert.match(err, /npm \(pid \d+\), which started this process, has exited: stopping/);
    } finally {
      npm.kill('SIGKILL');
      // the target, if it outlived the test: ours, by the pid the fake npm wrote
      const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Polls `cond` every 50 ms for up to 5 s. */
async function until(cond: () => boolean, why: () => string): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), `condition not met within 5 s: ${why()}`);
}

describe('log lines', () => {
  test('a login logs one short line (initiator -> target, ACL, auth); the negotiated parameters only with -v', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileio-login-'));
    try {
      await writeFile(join(dir, 'd.img'), '');
      await truncate(join(dir, 'd.img'), 4 * MiB);
      for (const verbose of [false, true]) {
        const t = await startTarget([...(verbose ? ['-v'] : []), '--no-control', 'disk1', join(dir, 'd.img')]);
        try {
          const url = t.served[0]!.url;
          const inq = await run('iscsi-inq', ['-i', 'iqn.2026-12.test:short-log', url]);
          assert.equal(inq.code, 0, inq.stderr);
          const lines = t.stderr().split('\n').filter((l) => l.includes('login: iqn.2026-12.test:short-log'));
          assert.equal(lines.length, 1, t.stderr());
          const message = (JSON.parse(lines[0]!) as { message: string }).message;
          assert.match(message, /^iscsi .*: login: iqn\.2026-12\.test:short-log -> iqn\.2026-11\.org\.fileio-tgt:disk1 \(ACL open, auth None\)$/);
          assert.ok(message.length < 160, `${message.length} characters`);
          assert.equal(/login parameters: ISID 0x[0-9a-f]+, digests/.test(t.stderr()), verbose, 'parameters with -v only');
        } finally {
          await t.stop();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
