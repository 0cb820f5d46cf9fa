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
