// The documentation holds together: every relative link in README.md and docs/ reaches a file,
// every #anchor a heading of that file (as GitHub names them), every page is reachable from the
// README, and the README stays short enough to read in five minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/batt.js';

/** README.md and every .md file below docs/, relative to the repo. */
function pages(): string[] {
  const out = ['README.md'];
  const visit = (rel: string) => {
    for (const e of fs.readdirSync(path.join(REPO, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) visit(r);
      else if (e.name.endsWith('.md')) out.push(r);
    }
  };
  visit('docs');
  return out;
}

/** The text outside fenced code blocks and inline code: links there are examples, not links. */
function prose(text: string): string {
  return text
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/^ {4}.*$/gm, '')
    .replace(/`[^`\n]*`/g, (m) => (m.length > 2 ? 'code' : m));
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as '-'; repeats get -1, -2... */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const base = m[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** Every [text](target) of a page whose target is not a URL. */
function links(text: string): string[] {
  return [...prose(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

test('GitHub anchors: punctuation dropped, repeats numbered', () => {
  const cases: [string, string[]][] = [
    ['# Retention: `batt purge`', ['retention-batt-purge']],
    ['## Health-check pings (healthchecks.io and compatible)', ['health-check-pings-healthchecksio-and-compatible']],
    ['## `<service>.conf` keys', ['serviceconf-keys']],
    ['## Backup\n## Restore\n## Backup', ['backup', 'restore', 'backup-1']],
    ['```sh\n# not a heading\n```\n# Real', ['real']],
  ];
  for (const [text, want] of cases) assert.deepEqual([...anchors(text)], want, text);
});

test('every relative link and #anchor in README.md and docs/ resolves, and every page is reachable from the README', () => {
  const all = pages();
  assert.ok(all.length > 10, all.join(','));
  const broken: string[] = [];
  const linked = new Map<string, string[]>();
  for (const page of all) {
    const text = fs.readFileSync(path.join(REPO, page), 'utf8');
    const to: string[] = [];
    for (const target of links(text)) {
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const dest = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), decodeURIComponent(file))) : page;
      if (!fs.existsSync(path.join(REPO, dest))) {
        broken.push(`${page}: ${target}: no such file`);
        continue;
      }
      to.push(dest);
      if (anchor !== undefined && dest.endsWith('.md') && !anchors(fs.readFileSync(path.join(REPO, dest), 'utf8')).has(anchor)) {
        broken.push(`${page}: ${target}: no heading #${anchor} in ${dest}`);
      }
    }
    linked.set(page, to);
  }
  assert.deepEqual(broken, []);
  const reached = new Set<string>();
  const walk = (p: string) => {
    if (reached.has(p)) return;
    reached.add(p);
    for (const q of linked.get(p) ?? []) walk(q);
  };
  walk('README.md');
  assert.deepEqual(all.filter((p) => !reached.has(p)), [], 'pages no link leads to from the README');
});

test('the README stays short: under 300 lines, the reference lives in docs/', () => {
  const lines = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8').split('\n').length;
  assert.ok(lines < 300, `README.md has ${lines} lines`);
});
