// The handler registry: handlers.json maps a type name to a module that default-exports a
// HandlerModule. Built-ins and user prototypes are registered the same way, so a developer adds
// a device type by writing one module and one JSON entry in a file of their own, given with
// --handlers FILE: its types are added to the built-in ones.
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HandlerModule } from '../handlers/contract.ts';
import { ConfigError } from './errors.ts';
import { errnoText } from '../backing/errno.ts';

export interface RegistryEntry {
  readonly type: string;
  /** Absolute path of the module file. */
  readonly module: string;
  readonly description: string;
  /** The registry file that names it (for error messages). */
  readonly file: string;
}

const TYPE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** The handlers.json shipped with the package (two levels above dist/src/host). */
export function defaultRegistryPath(): string {
  // Sources live in src/host, compiled code in dist/src/host: find the package root either way.
  const up2 = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const root = basename(up2) === 'dist' ? dirname(up2) : up2;
  return resolve(root, 'handlers.json');
}

/** Parses and validates a registry document; errors name the file and the field. */
export function parseRegistry(text: string, file: string): Map<string, RegistryEntry> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, '', `not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new ConfigError(file, '', 'must be a JSON object');
  const handlers = doc.handlers;
  if (!isObject(handlers)) throw new ConfigError(file, 'handlers', 'must be an object of type name → { module, description }');
  const base = dirname(resolve(file));
  const out = new Map<string, RegistryEntry>();
  for (const [type, entry] of Object.entries(handlers)) {
    const at = `handlers.${type}`;
    if (!TYPE_NAME.test(type)) throw new ConfigError(file, at, 'type names are lower-case letters, digits, "-" or "_" (at most 32)');
    if (!isObject(entry)) throw new ConfigError(file, at, 'must be an object with "module" and "description"');
    for (const key of Object.keys(entry)) {
      if (key !== 'module' && key !== 'description') throw new ConfigError(file, `${at}.${key}`, 'unknown field');
    }
    if (typeof entry.module !== 'string' || entry.module === '') throw new ConfigError(file, `${at}.module`, 'must be a non-empty path');
    if (entry.description !== undefined && typeof entry.description !== 'string') {
      throw new ConfigError(file, `${at}.description`, 'must be a string');
    }
    const module = isAbsolute(entry.module) ? entry.module : resolve(base, entry.module);
    out.set(type, { type, module, description: (entry.description as string | undefined) ?? '', file });
  }
  return out;
}

export class HandlerRegistry {
  /** The registries read, built-in first. */
  readonly files: readonly string[];
  readonly entries: Map<string, RegistryEntry>;
  private readonly loaded = new Map<string, Promise<HandlerModule>>();

  private constructor(files: string[], entries: Map<string, RegistryEntry>) {
    this.files = files;
    this.entries = entries;
  }

  /**
   * The built-in handler types, plus those of `extra` (--handlers FILE). A type of `extra` that
   * is already built in is an error: a prototype adds a type, it never silently replaces one.
   */
  static async open(extra?: string): Promise<HandlerRegistry> {
    const builtIn = defaultRegistryPath();
    const entries = await readRegistry(builtIn);
    if (extra === undefined || resolve(extra) === builtIn) return new HandlerRegistry([builtIn], entries);
    for (const [type, entry] of await readRegistry(extra)) {
      if (entries.has(type)) throw new ConfigError(extra, `handlers.${type}`, `"${type}" is a built-in handler type; give yours another name`);
      entries.set(type, entry);
    }
    return new HandlerRegistry([builtIn, extra], entries);
  }

  /** Only the types of `file` (tests, and tools that want no built-ins). */
  static async openOnly(file: string): Promise<HandlerRegistry> {
    return new HandlerRegistry([file], await readRegistry(file));
  }

  types(): string[] {
    return [...this.entries.keys()];
  }

  /** Imports a handler module once and checks that it honours the HandlerModule contract. */
  load(type: string): Promise<HandlerModule> {
    const entry = this.entries.get(type);
    if (!entry) {
      return Promise.reject(new ConfigError(this.files[this.files.length - 1]!, `handlers.${type}`, `no handler type "${type}" (known: ${this.types().join(', ')})`));
    }
    let p = this.loaded.get(type);
    if (!p) {
      p = importHandler(entry);
      this.loaded.set(type, p);
    }
    return p;
  }
}

async function readRegistry(file: string): Promise<Map<string, RegistryEntry>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, '', `cannot read the handler registry: ${errnoText(e)}`);
  }
  return parseRegistry(text, file);
}

async function importHandler(entry: RegistryEntry): Promise<HandlerModule> {
  const file = entry.file;
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(entry.module).href);
  } catch (e) {
    throw new ConfigError(file, `handlers.${entry.type}.module`, `cannot load ${entry.module}: ${(e as Error).message}`);
  }
  const handler = mod.default;
  if (!isObject(handler) || typeof handler.create !== 'function') {
    throw new ConfigError(file, `handlers.${entry.type}.module`, `${entry.module} must default-export { description, create(config, host) }`);
  }
  return handler as unknown as HandlerModule;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
