// CouchDB through the built batt against a real CouchDB-protocol server: CouchDB itself is not
// packaged in Debian 12, so the server is pouchdb-server from npm (test/helpers/couchdb.ts: in
// memory, free 127.0.0.1 port, a server admin), which serves the CouchDB HTTP API. `batt couchdb`
// then `batt restore couchdb`: documents with their revisions, a binary attachment, a design
// document and _security come back; a deleted document stays deleted; a wrong password and a
// transfer cut short fail the backup with the cause in the one-line error, and keep nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REQUIRE_SERVERS, REPO, backupsOf, batt, sandbox, type Sandbox } from '../helpers/batt.js';
import { hasPouchdbServer, startCouch, type Couch } from '../helpers/couchdb.js';
import { which } from '../helpers/redis.js';

const missing = [...(hasPouchdbServer() ? [] : ['pouchdb-server (npm ci)']), ...['curl', 'jq', 'zstd'].filter((b) => !which(b))];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

/** 256 bytes, every value once: an attachment that text handling would damage. */
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const SECURITY = { admins: { names: ['boss'], roles: [] }, members: { names: [], roles: ['staff'] } };

describe('couchdb backup and restore against pouchdb-server', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let couch: Couch;
  const conf = (body: string) => fs.writeFileSync(path.join(sb.home, 'conf', 'couchdb.conf'), body, { mode: 0o600 });
  const goodConf = () => conf(`URL=${couch.url}\nUSER=${couch.user}\nPASSWORD=${couch.password}\n`);
  const run = (args: string[]) => batt([...args, '--path', sb.pattern], { home: sb.home, cwd: sb.dir });
  /** every document with its attachments, as the server gives it */
  const everything = async (db: string) => {
    const r = await couch.call('GET', `/${encodeURIComponent(db)}/_all_docs?include_docs=true&attachments=true`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.rows.map((x: { doc: unknown }) => x.doc);
  };
  const put = async (p: string, body: unknown) => {
    const r = await couch.call('PUT', p, body);
    assert.ok(r.status === 201 || r.status === 200, `${p}: ${JSON.stringify(r.body)}`);
    return r.body;
  };

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    couch = await startCouch();
    await put('/shop', undefined);
    await put('/shop/_security', SECURITY);
    // more documents than a page (--couchdb-batch 40): the dump goes page by page
    const docs = Array.from({ length: 95 }, (_, i) => ({ _id: `item-${String(i).padStart(3, '0')}`, n: i, name: `Kunde ${i} Grüße` }));
    const bulk = await couch.call('POST', '/shop/_bulk_docs', { docs });
    assert.equal(bulk.status, 201);
    await put('/shop/pic', { kind: 'photo', _attachments: { 'a.bin': { content_type: 'application/octet-stream', data: BINARY.toString('base64') } } });
    await put('/shop/_design/app', { views: { by_n: { map: 'function (d) { if (d.n) emit(d.n); }' } } });
    const gone = await put('/shop/gone', { x: 1 });
    assert.equal((await couch.call('DELETE', `/shop/gone?rev=${gone.rev}`)).status, 200);
    // a name with the signs CouchDB allows ("/" too, written %2F in the file name: pouchdb-server
    // drops it from names, so that part is not tested here)
    await put('/logs_2026%24(x)%2B-y', undefined);
    await put('/logs_2026%24(x)%2B-y/l1', { line: 'one' });
    goodConf();
  });
  after(async () => {
    await couch?.stop();
    sb?.cleanup();
  });

  test('backup: one <db>.json.zst per database, batt lines first and last, every document with its attachment', async () => {
    const r = await run(['couchdb', '--couchdb-batch', '40']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf(sb).filter((f) => f.includes('/couchdb/') && f.endsWith('.json.zst')).map((f) => path.basename(f)).sort();
    assert.deepEqual(files, ['logs_2026$(x)+-y.json.zst', 'shop.json.zst']);
    const dir = path.join(sb.root, path.dirname(backupsOf(sb).find((f) => f.endsWith('/couchdb/shop.json.zst'))!));
    const lines = execFileSync('zstd', ['-dc', path.join(dir, 'shop.json.zst')], { encoding: 'utf8' }).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines[0], { batt_couchdb: 1, db: 'shop', security: SECURITY });
    assert.deepEqual(lines.at(-1), { batt_couchdb_end: { docs: 97 } });
    assert.equal(lines.length, 99);
    assert.deepEqual(lines.slice(1, -1), await everything('shop'));
    assert.ok(!lines.some((d) => d._id === 'gone'), 'a deleted document is not in the backup');
  });

  test('restore --to: documents keep their revisions, the attachment its bytes, _security and the design document come back', async () => {
    const r = await run(['restore', 'couchdb', '--couchdb-db', 'shop', '--to', 'shop_copy', '--couchdb-batch', '30']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(await everything('shop_copy'), await everything('shop'));
    assert.deepEqual((await couch.call('GET', '/shop_copy/_security')).body, SECURITY);
    const bin = await fetch(`${couch.url}/shop_copy/pic/a.bin`, { headers: { authorization: `Basic ${Buffer.from(`${couch.user}:${couch.password}`).toString('base64')}` } });
    assert.deepEqual(Buffer.from(await bin.arrayBuffer()), BINARY);
    assert.equal((await couch.call('GET', '/shop_copy/_design/app/_view/by_n?key=7')).body.rows[0].id, 'item-007');
    assert.equal((await couch.call('GET', '/shop_copy/gone')).status, 404, 'the deleted document is not resurrected');
    // a name with signs, chosen as a positional value
    const other = await run(['restore', 'couchdb', '--couchdb', 'logs_2026$(x)+-y', '--to', 'logs_copy']);
    assert.equal(other.code, 0, other.stderr + other.stdout);
    assert.deepEqual(await everything('logs_copy'), await everything('logs_2026$(x)+-y'));
  });

  test('restore into a database that holds documents: refused with exit 3, nothing written; --force: a document deleted since stays deleted', async () => {
    const before = await everything('shop_copy');
    const again = await run(['restore', 'couchdb', '--couchdb-db', 'shop', '--to', 'shop_copy']);
    assert.equal(again.code, 1, again.stderr + again.stdout);
    // the script's exit 3 is batt's "refused"
    assert.match(again.stderr, /restore of couchdb refused: restore-couchdb: database shop_copy on \S+ holds 97 documents; use --force/);
    assert.deepEqual(await everything('shop_copy'), before);
    const d = (await couch.call('GET', '/shop/item-001')).body;
    assert.equal((await couch.call('DELETE', `/shop/item-001?rev=${d._rev}`)).status, 200);
    const forced = await run(['restore', 'couchdb', '--couchdb-db', 'shop', '--force']);
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    assert.equal((await couch.call('GET', '/shop/item-001')).status, 404, 'the newer deletion wins');
    assert.equal((await couch.call('GET', '/shop/gone')).status, 404);
  });

  test('a wrong password fails the backup with the server\'s own words; nothing is kept', async () => {
    const before = backupsOf(sb);
    conf(`URL=${couch.url}\nUSER=${couch.user}\nPASSWORD=wrong\n`);
    try {
      const r = await run(['couchdb']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /backup-couchdb: cannot list the databases: GET http:\S+\/_all_dbs: HTTP 401: unauthorized: Name or password is incorrect\.\n/);
      assert.deepEqual(backupsOf(sb), before);
    } finally {
      goodConf();
    }
  });

  test('a transfer cut short fails the backup (curl sees it), nothing is kept', async () => {
    // a proxy that passes every request on, but cuts the second page of _all_docs in half
    const target = new URL(couch.url);
    let pages = 0;
    const proxy = http.createServer((req, res) => {
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          const cut = req.url!.includes('/_all_docs') && ++pages === 2;
          res.writeHead(ur.statusCode!, { 'content-type': 'application/json', 'content-length': String(body.length) });
          if (cut) {
            res.write(body.subarray(0, body.length >> 1));
            setTimeout(() => res.socket?.destroy(), 50);
          } else res.end(body);
        });
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const before = backupsOf(sb);
    conf(`URL=http://127.0.0.1:${(proxy.address() as { port: number }).port}\nUSER=${couch.user}\nPASSWORD=${couch.password}\nBATCH=40\n`);
    try {
      const r = await run(['couchdb', '--couchdb-db', 'shop']);
      assert.notEqual(r.code, 0);
      assert.equal(pages, 2);
      assert.match(r.stderr, /backup-couchdb: dump of shop failed: GET http:\S+\/shop\/_all_docs failed: curl: \(18\)/);
      assert.deepEqual(backupsOf(sb), before);
    } finally {
      goodConf();
      proxy.close();
    }
  });

  test('the by-hand restore in docs/restore-without-batt.md works as written', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'restore-without-batt.md'), 'utf8');
    let text = /```sh\n# by hand: couchdb\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(text, 'no couchdb block');
    const cfg = path.join(sb.dir, 'couch.curl');
    fs.writeFileSync(cfg, `user = "${`${couch.user}:${couch.password}`.replace(/[\\"]/g, (c) => `\\${c}`)}"\n`, { mode: 0o600 });
    const params: Record<string, string> = { DB: 'shop', URL: couch.url, CURL_CFG: cfg };
    for (const [k, v] of Object.entries(params)) {
      assert.match(text, new RegExp(`^${k}=`, 'm'), `no ${k}= line`);
      text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${JSON.stringify(v)}`);
    }
    const dir = path.join(sb.root, path.dirname(backupsOf(sb).find((f) => f.endsWith('/couchdb/shop.json.zst'))!));
    // into a new database: the block's DB names the file; its PUT names the database
    const r = spawnSync('bash', ['-e', '-c', text.replaceAll('"$URL/$DB', '"$URL/hand').replaceAll("'$URL/$DB", "'$URL/hand")], {
      encoding: 'utf8', env: { ...process.env, B: dir },
    });
    assert.equal(r.status, 0, r.stderr);
    return Promise.all([everything('hand'), everything('shop_copy'), couch.call('GET', '/hand/_security')]).then(([a, b, s]) => {
      assert.deepEqual(a, b);
      assert.deepEqual(s.body, SECURITY);
    });
  });
});
