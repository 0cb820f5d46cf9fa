// A realistic, deterministic tree to back up: tens of thousands of small text files (source,
// config, JSON, markdown) in deep folders, rotated logs, incompressible media-like files, and a
// few large files (a log, a SQL dump, a random blob). Same seed + size = byte-identical tree.
//
// Random (incompressible) bytes come from an AES-CTR keystream keyed by the seed, so they are
// unique (restic cannot deduplicate them, zstd cannot shrink them) and cost ~1 s per GB.
// Text is built from a seeded, Zipf-like vocabulary: it compresses like real text (3-8x), and no
// two files share long runs, so content-defined chunking finds nothing to deduplicate either.
//
// Usage: node --import tsx bench/tree.ts DIR [SIZE_MB] [SEED]
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export interface TreeSpec {
  dir: string;
  sizeMb: number;
  seed: number;
}

export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Bytes of incompressible (random) content. */
  randomBytes: number;
  largest: number;
  maxDepth: number;
  /** Top-level folders with their sizes, for splitting the tree into parts. */
  tops: { name: string; bytes: number }[];
}

/** mulberry32: small, fast, good enough for choosing shapes. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STAMP = '.batt-bench-tree.json';
const GENERATOR_VERSION = 1;

class Gen {
  readonly r: () => number;
  private readonly key: Buffer;
  private fileNo = 0;
  readonly words: string[];
  readonly idents: string[];
  readonly phrases: string[] = [];

  constructor(seed: number) {
    this.r = rng(seed);
    this.key = createHash('sha256').update(`batt-bench-${seed}`).digest().subarray(0, 16);
    const syl = ['ka', 'lo', 'mi', 'ne', 'tor', 'ver', 'sta', 'qu', 'ex', 'ri', 'on', 'al', 'be', 'dra', 'fi',
      'gen', 'hu', 'jo', 'pl', 'ser', 'ti', 'um', 'wa', 'zo', 'ch', 'ing', 'ed', 'th', 'ar', 'es'];
    const mk = (n: number, maxSyl: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        let w = '';
        const k = 1 + Math.floor(this.r() * maxSyl);
        for (let j = 0; j < k; j++) w += syl[Math.floor(this.r() * syl.length)];
        out.push(w);
      }
      return out;
    };
    this.words = mk(4000, 4);
    for (let i = 0; i < 3000; i++) this.phrases.push(`${this.word()} ${this.word()} ${this.word()}`);
    this.idents = mk(1200, 3).map((w, i) => (i % 3 === 0 ? w + w.charAt(0).toUpperCase() + w.slice(1, 4) : w));
  }

  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  /** Zipf-like pick: a few words are very common, most are rare. */
  word(): string {
    const u = this.r();
    return this.words[Math.floor(this.words.length * u * u * u * u)]!;
  }
  ident(): string {
    const u = this.r();
    return this.idents[Math.floor(this.idents.length * u * u * u)]!;
  }
  /** Words in stock phrases, as real text and log messages repeat themselves. */
  sentence(n: number): string {
    let s = this.phrase();
    for (let i = 3; i < n; i += 3) s += (this.int(4) === 0 ? ' ' + this.word() + ' ' : ' ') + this.phrase();
    return s;
  }
  phrase(): string {
    const u = this.r();
    return this.phrases[Math.floor(this.phrases.length * u * u)]!;
  }
  hex(n: number): string {
    let s = '';
    while (s.length < n) s += Math.floor(this.r() * 4294967296).toString(16).padStart(8, '0');
    return s.slice(0, n);
  }
  /** Lognormal size with the given median, clamped. */
  size(median: number, sigma: number, min: number, max: number): number {
    const u1 = this.r() || 1e-9;
    const u2 = this.r();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * z))));
  }

  /** Unique incompressible bytes, written in chunks. */
  writeRandom(file: string, bytes: number): void {
    const iv = Buffer.alloc(16);
    iv.writeUInt32BE(++this.fileNo, 0);
    const c = createCipheriv('aes-128-ctr', this.key, iv);
    const fd = fs.openSync(file, 'w');
    try {
      const zero = Buffer.alloc(Math.min(bytes, 4 << 20));
      for (let left = bytes; left > 0; left -= zero.length) {
        fs.writeSync(fd, c.update(left >= zero.length ? zero : zero.subarray(0, left)));
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Text built line by line until `bytes`, streamed to disk in ~1 MB pieces. */
  writeText(file: string, bytes: number, line: () => string): void {
    const fd = fs.openSync(file, 'w');
    try {
      let buf: string[] = [];
      let pending = 0;
      let written = 0;
      while (written + pending < bytes) {
        const l = line() + '\n';
        buf.push(l);
        pending += l.length;
        if (pending >= 1 << 20) {
          written += fs.writeSync(fd, buf.join(''));
          buf = [];
          pending = 0;
        }
      }
      if (pending) fs.writeSync(fd, buf.join(''));
    } finally {
      fs.closeSync(fd);
    }
  }

  private stmts: string[] = [];
  /** Code repeats its statements: most lines come from a pool, some are new. */
  codeLine = (): string => {
    if (this.stmts.length < 4000) this.stmts.push(this.freshCode());
    const ind = '  '.repeat(this.int(5));
    const u = this.r();
    return this.int(5) === 0 ? ind + this.freshCode() : ind + this.stmts[Math.floor(this.stmts.length * u * u)]!;
  };
  freshCode(): string {
    const ind = '';
    switch (this.int(8)) {
      case 0: return `${ind}const ${this.ident()} = ${this.ident()}(${this.ident()}, ${this.int(1000)});`;
      case 1: return `${ind}if (${this.ident()}.${this.ident()} === '${this.word()}') {`;
      case 2: return `${ind}}`;
      case 3: return `${ind}// ${this.sentence(4 + this.int(8))}`;
      case 4: return `${ind}return ${this.ident()}.${this.ident()}(${this.ident()});`;
      case 5: return `${ind}function ${this.ident()}(${this.ident()}, ${this.ident()}) {`;
      case 6: return '';
      default: return `${ind}${this.ident()}.${this.ident()} = ${this.ident()} + ${this.int(100)};`;
    }
  }
  textLine = (): string => (this.int(10) === 0 ? '' : this.sentence(5 + this.int(14)));
  private t = Date.UTC(2026, 0, 1);
  logLine = (): string => {
    this.t += this.int(2000);
    const lvl = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'][this.int(6)];
    return `${new Date(this.t).toISOString()} web${this.int(4)} ${this.ident()}[${1000 + this.int(30000)}]: ${lvl} ` +
      `${this.sentence(2 + this.int(4))} id=${this.hex(6)} user=${this.ident()} took=${this.int(900)}ms status=${[200, 200, 200, 304, 404, 500][this.int(6)]}`;
  };
  jsonLine = (): string =>
    `  {"id": ${this.int(1e7)}, "${this.ident()}": "${this.sentence(1 + this.int(4))}", "${this.ident()}": ${(this.r() * 1000).toFixed(2)}, ` +
    `"tags": ["${this.word()}", "${this.word()}"], "ref": "${this.hex(16)}", "active": ${this.int(2) ? 'true' : 'false'}},`;
  sqlLine = (): string =>
    `INSERT INTO \`${this.ident()}\` VALUES (${this.int(1e8)},'${this.sentence(2 + this.int(8))}',${this.int(1e5)},` +
    `'2026-${String(1 + this.int(12)).padStart(2, '0')}-${String(1 + this.int(28)).padStart(2, '0')} 12:${String(this.int(60)).padStart(2, '0')}:00','${this.hex(32)}');`;
}

/** Folders: a few top-level trees, random nesting, and some deliberately deep chains. */
function makeDirs(g: Gen, root: string, count: number): { dirs: string[]; maxDepth: number } {
  const tops = ['srv-www', 'home-users', 'var-lib', 'opt-apps', 'data-media', 'etc-conf', 'var-log', 'projects'];
  const dirs: { rel: string; depth: number }[] = tops.map((t) => ({ rel: t, depth: 1 }));
  const seen = new Set(tops);
  let maxDepth = 1;
  while (dirs.length < count) {
    // Prefer recent (deeper) folders a little so that depth grows beyond a plain random tree.
    const parent = dirs[dirs.length - 1 - Math.floor(dirs.length * Math.pow(g.r(), 1.5))]!;
    const rel = `${parent.rel}/${g.ident()}${g.int(3) === 0 ? '.d' : ''}`;
    if (seen.has(rel)) continue;
    seen.add(rel);
    dirs.push({ rel, depth: parent.depth + 1 });
    maxDepth = Math.max(maxDepth, parent.depth + 1);
  }
  // node_modules-like chains, 18 levels.
  for (let c = 0; c < 4; c++) {
    let rel = `${tops[c]!}/app${c}`;
    for (let d = 0; d < 18; d++) {
      rel += d % 2 ? `/${g.ident()}` : '/node_modules';
      dirs.push({ rel, depth: rel.split('/').length });
    }
    maxDepth = Math.max(maxDepth, rel.split('/').length);
  }
  for (const d of dirs) fs.mkdirSync(path.join(root, d.rel), { recursive: true });
  return { dirs: dirs.map((d) => d.rel), maxDepth };
}

export function generateTree(spec: TreeSpec): TreeStats {
  const g = new Gen(spec.seed);
  const total = spec.sizeMb * 1024 * 1024;
  fs.mkdirSync(spec.dir, { recursive: true });
  const { dirs, maxDepth } = makeDirs(g, spec.dir, Math.max(40, Math.round(spec.sizeMb * 3)));
  const stats: TreeStats = { files: 0, dirs: dirs.length, symlinks: 0, bytes: 0, randomBytes: 0, largest: 0, maxDepth, tops: [] };
  const names = new Set<string>();
  const pools = new Map<string, string[]>();
  const place = (ext: string, under?: string): string => {
    let pool = dirs;
    if (under) {
      if (!pools.has(under)) pools.set(under, dirs.filter((d) => d.startsWith(under)));
      pool = pools.get(under)!;
    }
    for (;;) {
      const rel = `${pool[g.int(pool.length)]!}/${g.ident()}${g.int(50)}.${ext}`;
      if (!names.has(rel)) {
        names.add(rel);
        return rel;
      }
    }
  };
  const add = (rel: string, bytes: number, kind: 'random' | 'code' | 'text' | 'log' | 'json' | 'sql') => {
    const abs = path.join(spec.dir, rel);
    if (kind === 'random') g.writeRandom(abs, bytes);
    else {
      const line = { code: g.codeLine, text: g.textLine, log: g.logLine, json: g.jsonLine, sql: g.sqlLine }[kind];
      g.writeText(abs, bytes, line);
    }
    const size = fs.statSync(abs).size;
    stats.files++;
    stats.bytes += size;
    if (kind === 'random') stats.randomBytes += size;
    stats.largest = Math.max(stats.largest, size);
  };

  // Large files: an 8% random blob (video, tarball), a 7% SQL dump, a 6% log.
  add('data-media/archive-2025.mkv', Math.round(total * 0.08), 'random');
  add('var-lib/db-dump.sql', Math.round(total * 0.07), 'sql');
  fs.mkdirSync(path.join(spec.dir, 'var-log/app'), { recursive: true });
  add('var-log/app/current.log', Math.round(total * 0.06), 'log');
  // Budgets by kind; files are added until each budget is spent.
  const budgets: [number, () => void][] = [
    // Media-like incompressible files: 64 KB .. 8 MB.
    [0.17, () => add(place(['jpg', 'png', 'pdf', 'gz', 'woff2'][g.int(5)]!, g.int(2) ? 'data-media' : undefined), g.size(400_000, 1.0, 65_536, 8 << 20), 'random')],
    // Rotated logs: 50 KB .. 6 MB.
    [0.14, () => add(place('log', 'var-log'), g.size(600_000, 1.0, 50_000, 6 << 20), 'log')],
    // JSON documents.
    [0.08, () => add(place('json'), g.size(6_000, 1.3, 120, 2 << 20), 'json')],
    // Source code, the bulk of the file count.
    [0.28, () => add(place(['ts', 'js', 'php', 'py', 'c', 'h', 'css'][g.int(7)]!), g.size(3_500, 1.1, 80, 400_000), 'code')],
    // Docs and config.
    [0.10, () => add(place(['md', 'txt', 'conf', 'yml', 'ini', 'html'][g.int(6)]!), g.size(2_500, 1.2, 40, 300_000), 'text')],
  ];
  const spent = budgets.map(() => 0);
  for (;;) {
    let open = false;
    for (let i = 0; i < budgets.length; i++) {
      const [share, fn] = budgets[i]!;
      if (spent[i]! >= share * total) continue;
      open = true;
      const before = stats.bytes;
      fn();
      spent[i]! += stats.bytes - before;
    }
    if (!open) break;
  }
  // A few symlinks and empty folders, as real trees have.
  for (let i = 0; i < 50; i++) {
    const link = path.join(spec.dir, place('lnk'));
    fs.symlinkSync(i % 5 === 0 ? '../missing-target' : '/etc/hostname', link);
    stats.symlinks++;
  }
  for (const top of fs.readdirSync(spec.dir)) {
    stats.tops.push({ name: top, bytes: duBytes(path.join(spec.dir, top)) });
  }
  fs.writeFileSync(path.join(spec.dir, STAMP), JSON.stringify({ version: GENERATOR_VERSION, ...spec, stats }, null, 2));
  return stats;
}

function duBytes(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let n = 0;
  for (const e of fs.readdirSync(p)) n += duBytes(path.join(p, e));
  return n;
}

/** One file of unique incompressible bytes (for the upload comparison). */
export function writeRandomFile(file: string, bytes: number, seed: number): void {
  new Gen(seed).writeRandom(file, bytes);
}

/** One file of generated text (compresses like the tree's text files), for the daily series. */
export function writeTextFile(file: string, bytes: number, seed: number): void {
  const g = new Gen(seed);
  g.writeText(file, bytes, () => g.sentence(8 + g.int(12)));
}

/** Reuses a tree made earlier with the same size and seed (its stamp says so), else builds it. */
export function ensureTree(spec: TreeSpec): { stats: TreeStats; reused: boolean; seconds: number } {
  const t0 = performance.now();
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(spec.dir, STAMP), 'utf8'));
    if (stamp.version === GENERATOR_VERSION && stamp.sizeMb === spec.sizeMb && stamp.seed === spec.seed) {
      return { stats: stamp.stats as TreeStats, reused: true, seconds: 0 };
    }
  } catch {
    /* no usable stamp: build */
  }
  fs.rmSync(spec.dir, { recursive: true, force: true });
  const stats = generateTree(spec);
  return { stats, reused: false, seconds: (performance.now() - t0) / 1000 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [dir, size, seed] = process.argv.slice(2);
  if (!dir) {
    console.error('usage: tree.ts DIR [SIZE_MB] [SEED]');
    process.exit(2);
  }
  const r = ensureTree({ dir: path.resolve(dir), sizeMb: Number(size ?? 1024), seed: Number(seed ?? 1) });
  console.log(JSON.stringify({ reused: r.reused, seconds: r.seconds.toFixed(1), ...r.stats }));
}
