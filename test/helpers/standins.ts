import fs from 'node:fs';
import path from 'node:path';

// Bodies of stand-in database clients for e2e tests of the built-in scripts: each starts with a
// line the test gives (what to record), then answers the queries the scripts make.

/** A `mysql`/`mariadb` client: one database `shop`, utf8mb4, no tables; a restore's SQL is read and dropped. */
export function mysqlStandIn(record: string): string {
  return `${record}
q=; prev=; for a in "$@"; do [ "$prev" = -e ] && q=$a; prev=$a; done
case "$q" in
  *'SHOW DATABASES'*) echo shop ;;
  *SCHEMATA*) echo 'CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci' ;;
  *'COUNT(*)'*) echo 0 ;;
  '') cat >/dev/null ;;
esac`;
}

/** A `mysqldump`: a dump that ends with the completion line backup-mysql checks for. */
export function mysqldumpStandIn(record: string): string {
  return `${record}\nprintf -- '-- stand-in dump\\n-- Dump completed on 2026-01-01\\n'`;
}

/**
 * A STAND-IN container engine named NAME (podman or docker) in DIR, recording to LOG (see
 * test/integration/containers.test.ts): `exec [-i] [-u USER] [-e VAR]... CONTAINER CMD...` runs CMD
 * here, in /, with an environment of only PATH, the variables -e named and OWN (the container's
 * own environment, e.g. where a stand-in client records what it got).
 */
export function standInEngine(dir: string, name: string, log: string, own: Record<string, string> = {}): string {
  const f = path.join(dir, name);
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
# STAND-IN for ${name}: exec [-i] [-e VAR]... CONTAINER CMD... runs CMD here.
set -euo pipefail
echo "${name} $*" >>${JSON.stringify(log)}
[ "$1" = exec ] || { echo "stand-in ${name}: only exec" >&2; exit 125; }
shift
keep=(PATH="$PATH"${Object.entries(own).map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join('')})
as=()
while [ $# -gt 0 ]; do
  case "$1" in
    -i) shift ;;
    -u) [ "$(id -u)" = 0 ] || { echo "stand-in ${name}: -u needs root" >&2; exit 125; }
        as=(setpriv --reuid="$2" --regid="$(id -g -- "$2")" --init-groups --); shift 2 ;;
    -e) [[ "$2" != *=* ]] || { echo "stand-in ${name}: -e with a value puts it in argv" >&2; exit 125; }
        [ -z "\${!2+set}" ] || keep+=("$2=\${!2}"); shift 2 ;;
    -*) echo "stand-in ${name}: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
echo "$1" >>${JSON.stringify(log)}.containers
shift
cd /
exec env -i "\${keep[@]}" "\${as[@]}" "$@"
`,
    { mode: 0o755 },
  );
  return f;
}

/**
 * A STAND-IN `age` in DIR that records its argv in PIDFILE.args and its pid in PIDFILE, writes
 * `fill` bytes of zeros to its `-o` file, then sleeps 20 s, so only a kill ends it. The pid file is
 * written under another name and renamed: a test that waits for PIDFILE never reads it half
 * written (an empty pid file read as 0 made `kill -0` test the test's own process group).
 */
export function standInAge(dir: string, pidFile: string, fill: number): string {
  const f = path.join(dir, 'age-standin');
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$@" > ${JSON.stringify(`${pidFile}.args`)}
out=
while (($#)); do if [ "$1" = -o ]; then out=$2; shift; fi; shift; done
echo $$ > ${JSON.stringify(`${pidFile}.part`)}
mv ${JSON.stringify(`${pidFile}.part`)} ${JSON.stringify(pidFile)}
head -c ${fill} /dev/zero > "$out"
exec sleep 20
`,
    { mode: 0o755 },
  );
  return f;
}

/** Whether process PID exists; a pid that is not positive (a pid file read empty) is an error, not "alive". */
export function alive(pid: number): boolean {
  if (!(Number.isInteger(pid) && pid > 0)) throw new Error(`not a process id: ${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
