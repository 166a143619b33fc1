#!/usr/bin/env python3
"""The SQL differential corpus: tables and queries from a fixed seed, and
what the sqlite3 shell says each query returns, written in dcr's result
format (dcr-formats(5), SQL RESULTS), for tests/cli/sql-corpus.sh to
compare byte for byte with what `dcr run` returns.

usage: sql-corpus.py DIR SEED COUNT [LIBDUCKDB]

Writes into DIR:
  people.csv orders.csv tags.csv empty_t.csv   the tables, as dcr reads them
  room-N.yaml                                  rooms, at most ROOM_SIZE queries each
  queries.tsv                                  room, name and one-line SQL of each query
  expected/NAME.csv                            the oracle's result for each query
  oracle.db                                    the sqlite3 shell's database

COUNT queries are the first COUNT of the corpus the seed generates (ALL:
every one of them); the order cycles through the templates, so any prefix
covers each kind of query once it is as long as the list of templates.

The oracle is the sqlite3 shell, on the same CSV files imported into
tables of the same STRICT types, by rules written here from
dcr-formats(5) TABLE DATA (see load_oracle). Its output in `.mode quote`
is turned into dcr's format by the rules of SQL RESULTS (see
to_dcr_csv). Only the header of a result without rows does not come from
the shell, which prints none: it comes from SQLite's column names through
python's sqlite3 module (the same library).

With LIBDUCKDB (the libduckdb.so dcrd links), the same queries are also
written for the duckdb engine, with DuckDB itself as the oracle (see
DuckOracle) and every answer that is not the shell's explained by a rule
of the dialect differences (see Rule and DIALECT; duck_corpus lists the
files). The counts per template are printed, one line each.
"""
import os
import random
import re
import subprocess
import sys

ROOM_SIZE = 150

# ---- tables ----

NAMES = ["Ann", "Bob", "Chloé", "Chloe\u0301", "José", "Jose\u0301", "Zoë", "Ünal", "李雷", "😀 Smile",
         "O'Brien", "Comma, Name", 'Quote "Q"', " lead", "trail ", "two\nlines", "ann", "", "Ωmega",
         "straße", "İlkay", "x\ty", "Ann", "Bob", "👩‍👩‍👧 family", "e\u0301e\u0301", "Zoë"]
CITIES = ["Paris", "Zürich", "München", "東京", "São Paulo", "Kraków", "Reykjavík", "paris", "Oslo"]
SCORES = [0.1, 2.5, -3.75, 100.0, 1e6, 1.5e-7, 0.3, 42.0, 1e20, -0.5, 3.14159, 0.0, 7.25, 0.2, 5e-324,
          1.7976931348623157e308, 123456789.12345679]
NOTES = ["gift", "rush, please", "🎁", "naïve", 'say "hi"', "multi\nline", "rush, please", "Ω"]
TAGS = ["vip", "new", "churn", "vip", "beta", "ünïcödé", "x,y"]


def day(rng):
    special = ["2024-02-29", "2000-01-01", "1999-12-31", "2020-01-01", "2023-12-31"]
    if rng.random() < 0.25:
        return rng.choice(special)
    return "%04d-%02d-%02d" % (rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28))


def maybe(rng, p, value):
    return None if rng.random() < p else value


def make_tables(rng):
    """Each table: its columns (name, type, nullable) and rows of Python values (None: NULL)."""
    people = []
    ids = rng.sample(range(1, 200), 40)
    for i, pid in enumerate(ids):
        people.append([
            pid,
            NAMES[i % len(NAMES)],
            maybe(rng, 0.2, rng.choice(CITIES)),
            maybe(rng, 0.15, rng.choice([0, 17, 18, 25, 25, 33, 41, 41, 58, 64, 77, 90])),
            maybe(rng, 0.2, rng.choice(SCORES)),
            rng.choice([True, False]),
            maybe(rng, 0.2, day(rng)),
        ])
    orders = []
    for k in range(60):
        person = rng.choice(ids[:30]) if rng.random() < 0.8 else rng.choice([None, 999, 1000])
        orders.append([
            1000 + k * 7,
            person,
            rng.choice([0.25, 1.5, 10.0, 19.99, 0.1, 0.2, 100.0, 2.75, 33.3, 5.0]),
            rng.randint(1, 5),
            day(rng),
            maybe(rng, 0.4, rng.choice(NOTES)),
        ])
    tags = []
    for k in range(25):
        tags.append([rng.choice(ids[:20] + [999]), rng.choice(TAGS)])
    return {
        "people": ([("id", "int64", False), ("name", "string", False), ("city", "string", True),
                    ("age", "int64", True), ("score", "float64", True), ("active", "bool", False),
                    ("joined", "date", True)], people),
        "orders": ([("order_id", "int64", False), ("person_id", "int64", True), ("amount", "float64", False),
                    ("qty", "int64", False), ("placed", "date", False), ("note", "string", True)], orders),
        "tags": ([("person_id", "int64", False), ("tag", "string", False)], tags),
        "empty_t": ([("k", "int64", False), ("label", "string", True)], []),
    }


def csv_field(value, typ, rng):
    """A value as dcr reads it (dcr-formats(5) TABLE DATA): NULL empty and unquoted, strings always quoted."""
    if value is None:
        return ""
    if typ == "string":
        return '"' + value.replace('"', '""') + '"'
    if typ == "bool":
        return rng.choice(["true", "1"]) if value else rng.choice(["false", "0"])
    if typ == "float64":
        return repr(value)
    return str(value)


def write_tables(out, tables, rng):
    for name, (cols, rows) in tables.items():
        with open(os.path.join(out, name + ".csv"), "w", encoding="utf-8", newline="") as f:
            f.write(",".join(c[0] for c in cols) + "\n")
            for row in rows:
                f.write(",".join(csv_field(v, c[1], rng) for v, c in zip(row, cols)) + "\n")


SQL_TYPES = {"string": "TEXT", "date": "TEXT", "int64": "INTEGER", "bool": "INTEGER", "float64": "REAL"}


def load_oracle(out, tables, views):
    """
    The shell imports each CSV into a table of TEXT columns, then copies it
    into a STRICT table of dcr's types (dcr-room(5): string and date TEXT,
    int64 and bool INTEGER, float64 REAL) by these rules from dcr-formats(5):
    an empty field of a nullable column is NULL (.import cannot tell "" from
    an empty field, so the generator writes no empty string into a nullable
    column); int64 and float64 are CAST; a bool is 1 for true or 1, 0 for
    false or 0; a date is its text.
    """
    script = []
    for name, (cols, _) in tables.items():
        script.append("CREATE TABLE raw_%s (%s);" % (name, ", ".join('"%s" TEXT' % c[0] for c in cols)))
        script.append(".import --csv --skip 1 %s raw_%s" % (os.path.join(out, name + ".csv"), name))
        script.append("CREATE TABLE %s (%s) STRICT;" % (name, ", ".join('"%s" %s' % (c[0], SQL_TYPES[c[1]])
                                                                        for c in cols)))
        exprs = []
        for c, typ, nullable in cols:
            x = 'NULLIF("%s", \'\')' % c if nullable else '"%s"' % c
            if typ in ("int64", "float64"):
                x = "CAST(%s AS %s)" % (x, SQL_TYPES[typ])
            elif typ == "bool":
                x = "CASE %s WHEN 'true' THEN 1 WHEN '1' THEN 1 WHEN 'false' THEN 0 WHEN '0' THEN 0 END" % x
            exprs.append(x)
        script.append("INSERT INTO %s SELECT %s FROM raw_%s;" % (name, ", ".join(exprs), name))
        script.append("DROP TABLE raw_%s;" % name)
    for name, sql in views:
        script.append("CREATE VIEW %s AS %s;" % (name, sql))
    db = os.path.join(out, "oracle.db")
    if os.path.exists(db):
        os.unlink(db)
    subprocess.run(["sqlite3", "-bail", db], input="\n".join(script) + "\n", text=True, check=True)
    return db


# ---- the oracle's output, in dcr's format ----

def tokens(data):
    """The values of .mode quote output (bytes): NULL, 'text', X'blob', numbers; None ends a row."""
    i, n = 0, len(data)
    while i < n:
        c = data[i:i + 1]
        if c == b"\n":
            yield None
            i += 1
        elif c == b",":
            i += 1
        elif c == b"'":
            j, text = i + 1, bytearray()
            while True:
                k = data.index(b"'", j)
                text += data[j:k]
                if data[k + 1:k + 2] == b"'":
                    text += b"'"
                    j = k + 2
                else:
                    i = k + 1
                    break
            yield ("text", bytes(text))
        elif data.startswith(b"X'", i):
            k = data.index(b"'", i + 2)
            yield ("blob", bytes.fromhex(data[i + 2:k].decode()))
            i = k + 1
        else:
            k = i
            while k < n and data[k:k + 1] not in (b",", b"\n"):
                k += 1
            word = data[i:k].decode()
            i = k
            if word == "NULL":
                yield ("null", None)
            elif any(ch in word for ch in ".eEI"):
                yield ("real", float(word))      # 20 digits, or Inf: the exact double back
            else:
                yield ("int", int(word))


def rows_of(data):
    row = []
    for t in tokens(data):
        if t is None:
            yield row
            row = []
        else:
            row.append(t)
    if row:
        yield row


def dcr_real(d):
    """SQL RESULTS: the shortest of %.15g, %.16g, %.17g that reads back, .0 if it looks like an integer."""
    if d != d:
        return "nan"
    if d in (float("inf"), float("-inf")):
        return "inf" if d > 0 else "-inf"
    for prec in (15, 16, 17):
        s = "%.*g" % (prec, d)
        if float(s) == d:
            break
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def dcr_field(b):
    """SQL RESULTS: quoted when empty, holding , " CR LF, or starting or ending with a space or tab."""
    if (not b or any(ch in b for ch in b',"\r\n') or b[:1] in (b" ", b"\t") or b[-1:] in (b" ", b"\t")):
        return b'"' + b.replace(b'"', b'""') + b'"'
    return b


def dcr_value(t):
    kind, v = t
    if kind == "null":
        return b""
    if kind == "int":
        return str(v).encode()
    if kind == "real":
        return dcr_real(v).encode()
    if kind == "blob":
        return v.hex().encode() if v else b'""'
    return dcr_field(v)


def to_dcr_csv(shell_out, header):
    """The shell's rows (header first, when it printed any) in dcr's CSV; header: for a result of no rows."""
    rows = list(rows_of(shell_out))
    if not rows:
        names = [dcr_field(h.encode()) for h in header]
        return b",".join(names) + b"\n"
    out = [b",".join(dcr_field(t[1]) for t in rows[0])]
    out += [b",".join(dcr_value(t) for t in row) for row in rows[1:]]
    return b"\n".join(out) + b"\n"


def oracle(db, sql):
    """What the sqlite3 shell says sql returns, in dcr's format."""
    import sqlite3

    shell = subprocess.run(["sqlite3", "-bail", "-readonly", db], input=(".mode quote\n.headers on\n" + sql +
                           "\n;\n").encode(), capture_output=True, check=False)
    if shell.returncode != 0 or shell.stderr:
        raise SystemExit("sql-corpus: the sqlite3 shell refused a query: %s\n%s" % (shell.stderr.decode(), sql))
    header = []
    if not shell.stdout:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        header = [d[0] for d in con.execute(sql).description]
        con.close()
    return to_dcr_csv(shell.stdout, header)


# ---- the DuckDB oracle ----

class DuckOracle:
    """
    DuckDB itself (the libduckdb.so dcrd links, through ctypes: no dcr code)
    on the same CSV files, read by DuckDB's own CSV reader into tables of
    the types dcr-room(5) gives the duckdb engine (string VARCHAR, int64
    BIGINT, float64 DOUBLE, bool BOOLEAN, date DATE), strict, no type
    detection, an unquoted empty field NULL and "" the empty string. Its
    answers are written in dcr's format by the rules of dcr-room(5), "The
    duckdb engine": BOOLEAN as 1 or 0, DOUBLE and FLOAT as dcr_real writes
    a REAL, everything else as the text DuckDB casts it to
    (duckdb_value_varchar), quoted by the rules of SQL RESULTS. One thread,
    as sql-corpus.sh runs dcrd's engine, so sums of doubles add in the same order.
    """

    TYPES = {"string": "VARCHAR", "date": "DATE", "int64": "BIGINT", "bool": "BOOLEAN", "float64": "DOUBLE"}
    BOOLEAN, FLOAT, DOUBLE = 1, 10, 11

    def __init__(self, lib, out, tables):
        import ctypes

        class Result(ctypes.Structure):     # duckdb_result of DuckDB 1.x's C API
            _fields_ = [("column_count", ctypes.c_uint64), ("row_count", ctypes.c_uint64),
                        ("rows_changed", ctypes.c_uint64), ("columns", ctypes.c_void_p),
                        ("error_message", ctypes.c_char_p), ("internal_data", ctypes.c_void_p)]

        self.ct, self.Result = ctypes, Result
        d = self.lib = ctypes.CDLL(lib)
        P, U64 = ctypes.c_void_p, ctypes.c_uint64
        for name, res, args in [
                ("duckdb_library_version", ctypes.c_char_p, []),
                ("duckdb_create_config", ctypes.c_int, [ctypes.POINTER(P)]),
                ("duckdb_set_config", ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p]),
                ("duckdb_destroy_config", None, [ctypes.POINTER(P)]),
                ("duckdb_open_ext", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(P), P, ctypes.POINTER(P)]),
                ("duckdb_connect", ctypes.c_int, [P, ctypes.POINTER(P)]),
                ("duckdb_query", ctypes.c_int, [P, ctypes.c_char_p, ctypes.POINTER(Result)]),
                ("duckdb_result_error", ctypes.c_char_p, [ctypes.POINTER(Result)]),
                ("duckdb_destroy_result", None, [ctypes.POINTER(Result)]),
                ("duckdb_prepare", ctypes.c_int, [P, ctypes.c_char_p, ctypes.POINTER(P)]),
                ("duckdb_prepare_error", ctypes.c_char_p, [P]),
                ("duckdb_destroy_prepare", None, [ctypes.POINTER(P)]),
                ("duckdb_column_count", U64, [ctypes.POINTER(Result)]),
                ("duckdb_row_count", U64, [ctypes.POINTER(Result)]),
                ("duckdb_column_name", ctypes.c_char_p, [ctypes.POINTER(Result), U64]),
                ("duckdb_column_type", ctypes.c_int, [ctypes.POINTER(Result), U64]),
                ("duckdb_value_is_null", ctypes.c_bool, [ctypes.POINTER(Result), U64, U64]),
                ("duckdb_value_double", ctypes.c_double, [ctypes.POINTER(Result), U64, U64]),
                ("duckdb_value_varchar", P, [ctypes.POINTER(Result), U64, U64]),
                ("duckdb_free", None, [P])]:
            f = getattr(d, name)
            f.restype, f.argtypes = res, args
        self.version = d.duckdb_library_version().decode().lstrip("v")
        cfg, self.db, self.con, why = P(), P(), P(), P()
        if d.duckdb_create_config(ctypes.byref(cfg)) != 0:
            raise SystemExit("sql-corpus: DuckDB: no configuration")
        # Nothing fetched or loaded from outside; one thread.
        for k, v in [("autoinstall_known_extensions", "false"), ("autoload_known_extensions", "false"),
                     ("threads", "1")]:
            if d.duckdb_set_config(cfg, k.encode(), v.encode()) != 0:
                raise SystemExit("sql-corpus: DuckDB refused setting %s" % k)
        if d.duckdb_open_ext(None, ctypes.byref(self.db), cfg, ctypes.byref(why)) != 0:
            raise SystemExit("sql-corpus: DuckDB: cannot open a database")
        d.duckdb_destroy_config(ctypes.byref(cfg))
        if d.duckdb_connect(self.db, ctypes.byref(self.con)) != 0:
            raise SystemExit("sql-corpus: DuckDB: cannot connect")
        for name, (cols, _) in tables.items():
            spec = ", ".join("'%s': '%s'" % (c, self.TYPES[typ]) for c, typ, _ in cols)
            self.must("CREATE TABLE %s AS SELECT * FROM read_csv('%s', columns = {%s}, header = true, "
                      "auto_detect = false, strict_mode = true, delim = ',', quote = '\"', escape = '\"', "
                      "nullstr = '', allow_quoted_nulls = false)"
                      % (name, os.path.join(out, name + ".csv"), spec))
            # DuckDB's reader may not drop what lib/table would refuse: the row counts must be the data's.
            n = self.must("SELECT COUNT(*) FROM %s" % name)
            if n != [[str(len(tables[name][1])).encode()]]:
                raise SystemExit("sql-corpus: DuckDB read %s rows of %s" % (n, name))

        # What dcr lets a duckdb query call and name, by the rule of dcr-room(5) ("The duckdb engine"), applied
        # to this DuckDB's catalog: not read from dcr's sources.
        self.functions = {r[0].decode() for r in self.must(
            "SELECT lower(function_name) AS name FROM duckdb_functions() WHERE database_name = 'system' AND "
            "schema_name = 'main' AND function_type IN ('scalar', 'aggregate', 'macro') GROUP BY name "
            "HAVING bool_and(CASE function_type WHEN 'macro' THEN NOT regexp_matches(lower(macro_definition), "
            "'current_|pragma_|duckdb_|random|uuid|now|setting|version') "
            "ELSE stability = 'CONSISTENT' AND NOT has_side_effects END) "
            "AND NOT regexp_matches(name, '^(duckdb_|pragma_|pg_|current_|has_|txid_|__internal_)') "
            "AND name NOT IN ('version', 'getvariable', 'vector_type', 'user', 'session_user', 'in_search_path', "
            "'which_secret', 'getenv', 'json_serialize_plan')")}
        self.views = {r[0].decode() for r in self.must(
            "SELECT DISTINCT lower(view_name) FROM duckdb_views() WHERE internal AND "
            "schema_name IN ('main', 'pg_catalog')")}

    TABLE_FUNCTIONS = {"range", "generate_series", "unnest"}
    VALUE_FUNCTIONS = {"current_catalog", "current_date", "current_role", "current_schema", "current_time",
                       "current_timestamp", "current_user", "localtime", "localtimestamp", "session_user", "user"}

    def not_allowed(self, sql):
        """
        dcr's message when its allow-list refuses sql (dcr-room(5), "The duckdb engine", (1) to (6)), read from
        DuckDB's syntax tree of it (json_serialize_sql with skip_empty and skip_null); None when it does not.
        """
        import json

        tree = json.loads(self.must("SELECT json_serialize_sql('%s', skip_empty := true, skip_null := true)" %
                                    sql.replace("'", "''"))[0][0].decode())
        if tree.get("error"):
            return None

        def absent(o, key, allowed=None):
            return o.get(key) in (None, "", allowed)

        def function(fn, table):
            name = fn.get("function_name")
            if not (absent(fn, "schema", "main") and absent(fn, "catalog", "system")):
                return "a function with a schema,", name
            if name.lower() not in self.TABLE_FUNCTIONS and (table or name.lower() not in self.functions):
                return ("table function" if table else "function"), name
            return None

        def walk(v):
            if isinstance(v, list):
                return next((w for w in map(walk, v) if w), None)
            if not isinstance(v, dict):
                return None
            cls, typ = v.get("class"), v.get("type")
            if cls in ("FUNCTION", "WINDOW") and function(v, False):
                return function(v, False)
            if not absent(v, "sample"):
                return "sampling", "USING SAMPLE"
            if cls == "COLUMN_REF" and len(v.get("column_names", [])) == 1 and \
                    v["column_names"][0].lower() in self.VALUE_FUNCTIONS:
                return "function", v["column_names"][0]
            if typ == "SHOW_REF":
                return "a listing", "SHOW, DESCRIBE or SUMMARIZE"
            if typ == "BASE_TABLE":
                if not (absent(v, "schema_name") and absent(v, "catalog_name")):
                    return "a table with a schema,", v.get("table_name")
                if v.get("table_name", "").lower() in self.views:
                    return "DuckDB's view", v["table_name"]
            if typ == "TABLE_FUNCTION":
                return function(v["function"], True) or walk(list(v["function"].values())) or \
                    walk({k: x for k, x in v.items() if k != "function"})
            return walk(list(v.values()))

        why = walk(tree.get("statements"))
        return "%s '%s' is not allowed in a DuckDB query" % why if why else None

    def must(self, sql):
        kind, value = self.run(sql)
        if kind != "rows":
            raise SystemExit("sql-corpus: DuckDB: %s\n%s" % (value, sql))
        return [[c for _, c in row] for row in value[1]]

    def run(self, sql):
        """("refused", message): DuckDB does not prepare it; ("fails", message): it fails running;
        ("rows", (names, rows of (type, bytes or None))) otherwise."""
        ct, d = self.ct, self.lib
        st = ct.c_void_p()
        if d.duckdb_prepare(self.con, sql.encode(), ct.byref(st)) != 0:
            why = d.duckdb_prepare_error(st).decode()
            d.duckdb_destroy_prepare(ct.byref(st))
            return ("refused", why)
        d.duckdb_destroy_prepare(ct.byref(st))
        res = self.Result()
        if d.duckdb_query(self.con, sql.encode(), ct.byref(res)) != 0:
            why = d.duckdb_result_error(ct.byref(res)).decode()
            d.duckdb_destroy_result(ct.byref(res))
            return ("fails", why)
        ncol, nrow = d.duckdb_column_count(ct.byref(res)), d.duckdb_row_count(ct.byref(res))
        names = [d.duckdb_column_name(ct.byref(res), c) for c in range(ncol)]
        types = [d.duckdb_column_type(ct.byref(res), c) for c in range(ncol)]
        rows = []
        for r in range(nrow):
            row = []
            for c in range(ncol):
                if d.duckdb_value_is_null(ct.byref(res), c, r):
                    row.append((types[c], None))
                elif types[c] in (self.FLOAT, self.DOUBLE):
                    row.append((types[c], d.duckdb_value_double(ct.byref(res), c, r)))
                else:
                    p = d.duckdb_value_varchar(ct.byref(res), c, r)
                    row.append((types[c], ct.string_at(p)))
                    d.duckdb_free(p)
            rows.append(row)
        d.duckdb_destroy_result(ct.byref(res))
        return ("rows", (names, rows))

    def answer(self, sql, settings=()):
        """("refused"|"fails", message) or ("rows", the result in dcr's format); settings: SET statements for it."""
        for setting in settings:
            self.must(setting)
        kind, value = self.run(sql)
        for setting in settings:
            self.must("RESET %s" % setting.split()[1])
        if kind != "rows":
            return kind, value
        names, rows = value
        out = [b",".join(dcr_field(n) for n in names)]
        for row in rows:
            cells = []
            for typ, v in row:
                if v is None:
                    cells.append(b"")
                elif typ == self.BOOLEAN:
                    cells.append(b"1" if v == b"true" else b"0")
                elif typ in (self.FLOAT, self.DOUBLE):
                    cells.append(dcr_real(v).encode())
                else:
                    cells.append(dcr_field(v))
            out.append(b",".join(cells))
        return "rows", b"\n".join(out) + b"\n"


# ---- queries ----

# Computations the queries read, in every room: SQL reading SQL, three deep.
VIEWS = [
    ("v_adults", "SELECT id, name, city, age FROM people WHERE age >= 18"),
    ("v_spend", "SELECT person_id, COUNT(*) AS n, SUM(amount) AS total, SUM(qty) AS items FROM orders "
                "GROUP BY person_id"),
    ("v_rich", "SELECT person_id, total FROM v_spend WHERE total > 30"),
    ("v_rich_names", "SELECT p.name, r.total FROM people p JOIN v_rich r ON r.person_id = p.id"),
    ("v_tagged", "SELECT people.id, people.name, tags.tag FROM people JOIN tags ON tags.person_id = people.id"),
    ("v_nat", "SELECT * FROM orders NATURAL JOIN tags"),
    ("v_empty", "SELECT k, label FROM empty_t"),
]


def cols(n):
    return ", ".join(str(i) for i in range(1, n + 1))


def t_join_count(r):
    """Issue 13: tables read only through USING or NATURAL were left empty, and these counted 0."""
    return r.choice([
        "SELECT COUNT(*) AS n FROM orders JOIN tags USING (person_id)",
        "SELECT COUNT(*) AS n FROM orders NATURAL JOIN tags",
        "SELECT COUNT(*) AS n FROM tags NATURAL JOIN orders",
        "SELECT COUNT(*) AS n FROM tags LEFT JOIN orders USING (person_id)",
        "SELECT COUNT(*) AS n FROM orders a JOIN orders b USING (person_id)",
        "SELECT COUNT(*) AS n FROM tags NATURAL JOIN empty_t",
        "SELECT COUNT(*) AS n FROM v_spend JOIN tags USING (person_id)",
        "SELECT COUNT(*) AS n FROM tags JOIN orders USING (person_id) JOIN v_spend USING (person_id)",
    ])


def t_filter_int(r):
    op = r.choice(["<", "<=", ">", ">=", "=", "<>"])
    return "SELECT id, name, age FROM people WHERE age %s %d ORDER BY id" % (op, r.choice([0, 18, 25, 41, 60]))


def t_strings(r):
    return ("SELECT id, upper(name) AS u, lower(name) AS l, length(name) AS len, substr(name, %d, %d) AS s, "
            "name || '|' || IFNULL(city, '-') AS joined FROM people ORDER BY id" % (r.randint(1, 3), r.randint(1, 4)))


def t_floats(r):
    return ("SELECT id, score, score * %s AS scaled, round(score, %d) AS r, score / %s AS q, score + 0.1 AS plus "
            "FROM people WHERE score IS NOT NULL ORDER BY id" % (r.choice(["3", "0.1", "1e10", "2.5"]),
                                                                  r.randint(0, 3), r.choice(["3", "7.0", "0.3"])))


def t_bools(r):
    return ("SELECT id, active, NOT active AS inactive, CASE WHEN active THEN 'yes' ELSE 'no' END AS yn, "
            "active + %d AS sum FROM people ORDER BY id" % r.randint(0, 2))


def t_dates(r):
    return ("SELECT id, joined, date(joined, '+%d days') AS later, strftime('%%Y/%%m', joined) AS ym, "
            "julianday(joined) - julianday('2020-01-01') AS days, joined < '%s' AS before FROM people ORDER BY id"
            % (r.randint(1, 400), r.choice(["2020-01-01", "2024-02-29", "2000-01-01"])))


def t_inner(r):
    return ("SELECT p.id, p.name, o.order_id, o.amount FROM people p JOIN orders o ON o.person_id = p.id "
            "WHERE o.amount > %s ORDER BY o.order_id" % r.choice(["0", "1.5", "10", "50"]))


def t_left(r):
    return ("SELECT p.id, p.name, COUNT(o.order_id) AS n, SUM(o.amount) AS s FROM people p "
            "LEFT JOIN orders o ON o.person_id = p.id AND o.amount > %s GROUP BY p.id, p.name ORDER BY p.id"
            % r.choice(["0", "1", "5", "10", "20", "99"]))


def t_outer(r):
    kind = r.choice(["RIGHT", "FULL", "LEFT"])
    return ("SELECT p.id, o.order_id, o.person_id FROM people p %s JOIN orders o ON o.person_id = p.id "
            "ORDER BY 1, 2, 3" % kind)


def t_cross(r):
    if r.random() < 0.2:
        return "SELECT t.tag, e.k FROM tags t CROSS JOIN empty_t e ORDER BY 1, 2"
    return ("SELECT a.tag AS a, b.tag AS b, COUNT(*) AS n FROM tags a CROSS JOIN tags b "
            "WHERE a.person_id %s b.person_id GROUP BY 1, 2 ORDER BY 1, 2" % r.choice(["<", ">", "=", "<>", "<="]))


def t_natural(r):
    where = r.choice(["", " WHERE tag = 'vip'", " WHERE qty > 2", " WHERE note IS NULL"])
    return "SELECT COUNT(*) AS n, SUM(amount) AS s, MIN(tag) AS t FROM orders NATURAL JOIN tags" + where


def t_using(r):
    if r.random() < 0.5:
        return "SELECT COUNT(*) AS n FROM orders JOIN tags USING (person_id)"
    return ("SELECT person_id, tag, amount FROM orders JOIN tags USING (person_id) WHERE amount >= %s "
            "ORDER BY 1, 2, 3" % r.choice(["0", "5", "19.99"]))


def t_self(r):
    col = r.choice(["city", "age", "name"])
    return ("SELECT a.id AS a_id, b.id AS b_id, a.%s AS v FROM people a JOIN people b ON a.%s = b.%s AND a.id < b.id "
            "ORDER BY 1, 2" % (col, col, col))


def t_comma(r):
    return ("SELECT p.name, t.tag FROM people p, tags t WHERE t.person_id = p.id AND p.id %% %d = %d "
            "ORDER BY 1, 2" % (r.choice([2, 3]), r.randint(0, 1)))


def t_aggregate(r):
    return ("SELECT city, COUNT(*) AS n, COUNT(age) AS n_age, SUM(age) AS s, AVG(score) AS a, MIN(name) AS mn, "
            "MAX(joined) AS mx, TOTAL(score) AS t FROM people GROUP BY city HAVING COUNT(*) >= %d ORDER BY city"
            % r.randint(1, 3))


def t_distinct_count(r):
    return ("SELECT COUNT(DISTINCT city) AS c, COUNT(DISTINCT age) AS a, COUNT(DISTINCT %s) AS x, COUNT(*) AS n "
            "FROM people" % r.choice(["active", "joined", "score", "name"]))


def t_scalar_sub(r):
    agg = r.choice(["MAX", "MIN", "SUM", "AVG", "COUNT"])
    return ("SELECT id, name, (SELECT %s(amount) FROM orders o WHERE o.person_id = p.id) AS v FROM people p "
            "ORDER BY id" % agg)


def t_in(r):
    neg = r.choice(["IN", "NOT IN"])
    src = r.choice(["SELECT person_id FROM orders", "SELECT person_id FROM tags",
                    "SELECT person_id FROM orders WHERE person_id IS NOT NULL", "SELECT k FROM empty_t"])
    return "SELECT id FROM people WHERE id %s (%s) ORDER BY id" % (neg, src)


def t_exists(r):
    neg = r.choice(["", "NOT "])
    inner = r.choice(["SELECT 1 FROM tags t WHERE t.person_id = p.id",
                      "SELECT 1 FROM orders o WHERE o.person_id = p.id AND o.qty > %d" % r.randint(1, 4),
                      "SELECT 1 FROM empty_t e WHERE e.k = p.id",
                      "SELECT 1 FROM people q WHERE q.city = p.city AND q.id <> p.id"])
    return "SELECT id, name FROM people p WHERE %sEXISTS (%s) ORDER BY id" % (neg, inner)


def t_cte(r):
    return ("WITH big AS (SELECT person_id, SUM(amount) AS s FROM orders GROUP BY person_id) "
            "SELECT p.name, big.s FROM big JOIN people p ON p.id = big.person_id WHERE big.s > %s ORDER BY 1, 2"
            % r.choice(["0", "20", "40"]))


def t_recursive(r):
    k = r.randint(3, 40)
    return ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
            "SELECT i, i * i AS sq, i %% 3 AS m FROM n ORDER BY i" % k)


def t_recursive_days(r):
    return ("WITH RECURSIVE d(day, k) AS (SELECT MIN(placed), 0 FROM orders UNION ALL "
            "SELECT date(day, '+1 day'), k + 1 FROM d WHERE k < %d) "
            "SELECT d.day, COUNT(o.order_id) AS n FROM d LEFT JOIN orders o ON o.placed = d.day "
            "GROUP BY d.day ORDER BY d.day" % r.randint(5, 60))


def t_window_rank(r):
    part = r.choice(["city", "active", "age IS NULL", "joined IS NULL"])
    key = r.choice(["age", "score", "name", "joined"])
    return ("SELECT id, %s AS part, %s AS key, row_number() OVER (PARTITION BY %s ORDER BY %s, id) AS rn, "
            "rank() OVER (PARTITION BY %s ORDER BY %s) AS rk, dense_rank() OVER (ORDER BY %s) AS dr, "
            "COUNT(*) OVER (PARTITION BY %s) AS n FROM people ORDER BY id" % (part, key, part, key, part, key, part,
                                                                             part))


def t_window_sum(r):
    frame = r.choice(["ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW", "ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING",
                      "RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"])
    return ("SELECT order_id, person_id, amount, SUM(amount) OVER (PARTITION BY person_id ORDER BY order_id %s) AS run, "
            "AVG(qty) OVER (ORDER BY order_id %s) AS avg_qty FROM orders ORDER BY order_id" % (frame, frame))


def t_window_lag(r):
    return ("SELECT order_id, amount, lag(amount, 1) OVER (ORDER BY order_id) AS prev, "
            "lead(amount, %d, 0) OVER (ORDER BY order_id) AS nxt FROM orders ORDER BY order_id" % r.randint(1, 3))


def t_window_misc(r):
    return ("SELECT id, ntile(%d) OVER (ORDER BY id) AS nt, percent_rank() OVER (ORDER BY age, id) AS pr, "
            "cume_dist() OVER (ORDER BY age) AS cd, first_value(name) OVER (ORDER BY id) AS fv, "
            "nth_value(name, 2) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS nv, "
            "last_value(age) OVER (PARTITION BY city ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) "
            "AS lv FROM people ORDER BY id" % r.randint(2, 5))


def t_setops(r):
    op = r.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
    pair = r.choice([("SELECT city AS v FROM people", "SELECT note FROM orders"),
                     ("SELECT person_id AS v FROM orders", "SELECT person_id FROM tags"),
                     ("SELECT id AS v FROM people", "SELECT person_id FROM orders"),
                     ("SELECT k AS v FROM empty_t", "SELECT person_id FROM tags")])
    return "%s %s %s ORDER BY 1" % (pair[0], op, pair[1])


def t_limit(r):
    return ("SELECT id, name FROM people ORDER BY name, id LIMIT %d OFFSET %d" % (r.randint(0, 12), r.randint(0, 30)))


def t_distinct(r):
    return "SELECT DISTINCT %s FROM people ORDER BY 1, 2" % r.choice(["city, active", "age, active", "city, age"])


def t_nulls(r):
    return ("SELECT id, city IS NULL AS no_city, COALESCE(city, 'none') AS c, NULLIF(age, %d) AS a, "
            "IFNULL(score, -1) AS s, age = NULL AS eq, age IS NOT %d AS isnt FROM people ORDER BY id"
            % (r.choice([25, 41, 0]), r.choice([25, 41])))


def t_null_order(r):
    return "SELECT id, age, score FROM people ORDER BY %s NULLS %s, id" % (r.choice(["age", "score"]),
                                                                         r.choice(["FIRST", "LAST"]))


def t_unicode(r):
    ch = r.choice(["é", "\u0301", "😀", "e", "ß", "n"])
    return ("SELECT id, name, length(name) AS len, unicode(name) AS cp, hex(name) AS hx, instr(name, '%s') AS pos, "
            "substr(name, 2, 2) AS mid FROM people ORDER BY name, id" % ch)


def t_like(r):
    op, pat = r.choice([("LIKE", "%an%"), ("LIKE", "_o%"), ("GLOB", "*[Zz]*"), ("LIKE", "CH%"), ("GLOB", "?o*"),
                        ("LIKE", "%\u0301%"), ("NOT LIKE", "%a%")])
    return "SELECT id, name FROM people WHERE name %s '%s' ORDER BY id" % (op, pat)


def t_cast(r):
    return ("SELECT id, typeof(age) AS ta, typeof(score) AS ts, CAST(score AS INTEGER) AS si, "
            "CAST(age AS TEXT) || '!' AS at, CAST(id AS REAL) AS ir, CAST('%s' AS %s) AS lit FROM people ORDER BY id"
            % r.choice([("12abc", "INTEGER"), ("3.5e2", "REAL"), ("x", "NUMERIC"), ("  7 ", "INTEGER")]))


def t_printf(r):
    return ("SELECT id, printf('%%05d|%%-6s|%%.3f|%%e', id, substr(name, 1, 4), score, %s) AS f, "
            "format('%%d items', id %% 7) AS g FROM people ORDER BY id" % r.choice(["score", "id * 1.5", "0.1"]))


def t_json(r):
    return ("SELECT id, json_object('name', name, 'age', age, 'score', score) AS j, "
            "json_extract(json_array(id, city), '$[1]') AS c, json_object('a', %d) ->> '$.a' AS a FROM people "
            "ORDER BY id" % r.randint(1, 9))


def t_empty(r):
    return r.choice([
        "SELECT COUNT(*) AS n, SUM(k) AS s, MAX(label) AS m, TOTAL(k) AS t, AVG(k) AS a FROM empty_t",
        "SELECT p.id, e.label FROM people p LEFT JOIN empty_t e ON e.k = p.id ORDER BY p.id",
        "SELECT * FROM empty_t ORDER BY k",
        "SELECT k, label, COUNT(*) AS n FROM empty_t GROUP BY k, label ORDER BY 1, 2",
        "SELECT p.id FROM people p JOIN empty_t e ON e.k = p.id ORDER BY 1",
    ])


def t_views(r):
    return r.choice([
        "SELECT * FROM v_adults ORDER BY id",
        "SELECT name, total FROM v_rich_names ORDER BY 1, 2",
        "SELECT COUNT(*) AS n FROM v_spend JOIN v_adults ON v_adults.id = v_spend.person_id",
        "SELECT COUNT(*) AS n, SUM(amount) AS s FROM v_nat",
        "SELECT tag, COUNT(*) AS n FROM v_tagged GROUP BY tag ORDER BY tag",
        "SELECT * FROM v_empty ORDER BY k",
        "SELECT a.name, s.total FROM v_adults a LEFT JOIN v_spend s ON s.person_id = a.id ORDER BY 1, 2",
        "SELECT COUNT(*) AS n FROM v_adults NATURAL JOIN v_tagged",
        "SELECT person_id, total FROM v_rich ORDER BY 1",
    ])


def t_derived(r):
    return ("SELECT c, n FROM (SELECT city AS c, COUNT(*) AS n FROM people GROUP BY city) WHERE n > %d ORDER BY 1"
            % r.randint(0, 2))


def t_case(r):
    a, b = r.randint(10, 40), r.randint(41, 80)
    city = r.choice(CITIES)
    return ("SELECT id, CASE WHEN age < %d THEN 'young' WHEN age < %d THEN 'mid' WHEN age IS NULL THEN NULL "
            "ELSE 'old' END AS band, iif(active, score, age) AS mixed, CASE city WHEN '%s' THEN 1 END AS hit "
            "FROM people ORDER BY id" % (a, b, city))


def t_int_math(r):
    k = r.choice([3, 7, 10])
    return ("SELECT id, age + id AS s, age * 2 - id AS e, age / %d AS d, age %% %d AS m, -age AS neg, "
            "abs(age - 50) AS dist, id / 0 AS div0 FROM people ORDER BY id" % (k, k))


def t_math(r):
    return ("SELECT id, sqrt(abs(score)) AS sq, pow(2, %d) AS p, ln(abs(score) + 1) AS l, floor(score) AS f, "
            "ceil(abs(score)) AS c, sign(score) AS sg, log10(abs(score) + 1) AS lg, pi() * %d AS pim "
            "FROM people WHERE score IS NOT NULL ORDER BY id" % (r.randint(0, 60), r.randint(1, 3)))


def t_view_using(r):
    return r.choice([
        "SELECT COUNT(*) AS n FROM orders JOIN v_spend USING (person_id)",
        "SELECT COUNT(*) AS n FROM v_tagged JOIN v_adults USING (id)",
        "SELECT COUNT(*) AS n FROM v_spend NATURAL JOIN v_rich",
    ])


def t_setops_limit(r):
    return ("SELECT person_id FROM orders EXCEPT SELECT person_id FROM tags ORDER BY 1 LIMIT %d" % r.randint(1, 10))


def t_between(r):
    a = r.randint(0, 40)
    ids = ", ".join(str(r.randint(1, 199)) for _ in range(r.randint(1, 6)))
    return "SELECT id FROM people WHERE age BETWEEN %d AND %d OR id IN (%s) ORDER BY id" % (a, a + r.randint(0, 30),
                                                                                              ids)


def t_having_sub(r):
    return ("SELECT person_id, COUNT(*) AS n FROM orders o GROUP BY person_id "
            "HAVING SUM(amount) > (SELECT AVG(amount) FROM orders) * %d ORDER BY 1" % r.randint(1, 3))


def t_text_funcs(r):
    a, b = r.choice(["A", "B", "Z", "́", "😀"]), r.choice(["e", "n", " ", "é"])
    return ("SELECT id, quote(name) AS q, replace(name, '%s', '_') AS r, trim(name) AS t, ltrim(name, '%s') AS lt, "
            "rtrim(name, '%s') AS rt, hex(substr(name, 1, 1)) AS h FROM people ORDER BY id" % (b, a, b))


def t_values(r):
    return r.choice([
        "SELECT column1 AS a, column2 AS b FROM (VALUES (1, 'x'), (2, NULL), (3, 'ü'), (2, 'x')) ORDER BY 1, 2",
        "VALUES (1, 2.5, 'a'), (NULL, -1, ''), (3, 1e300 * 1e10, ' sp ')",
        "SELECT 1 AS one, 'two' AS \"t w o\", 3.0 AS three, NULL AS nada",
    ])


def t_blob(r):
    return ("SELECT id, zeroblob(%d) AS z, x'00ff10' AS b, CAST(name AS BLOB) AS nb, x'' AS e FROM people "
            "ORDER BY id LIMIT 5" % r.randint(0, 3))


def t_group_multi(r):
    a, b = r.sample(["active", "city IS NULL", "age >= 18", "score > 1", "joined < '2022-01-01'", "length(name) > 4"], 2)
    return ("SELECT %s AS g1, %s AS g2, COUNT(*) AS n, MAX(score) AS mx, MIN(age) AS mn, SUM(id) AS s FROM people "
            "GROUP BY 1, 2 ORDER BY 1, 2" % (a, b))


def t_nested(r):
    return ("SELECT id, name, age FROM people p WHERE age > (SELECT AVG(age) FROM people q WHERE q.city %s p.city) "
            "ORDER BY id" % r.choice(["=", "IS", "<>"]))


def t_three_way(r):
    return ("SELECT p.name, o.order_id, t.tag FROM people p JOIN orders o ON o.person_id = p.id "
            "%s JOIN tags t ON t.person_id = p.id WHERE o.qty >= %d ORDER BY 1, 2, 3"
            % (r.choice(["", "LEFT"]), r.randint(1, 5)))


def t_union_agg(r):
    return ("SELECT kind, COUNT(*) AS n, COUNT(DISTINCT v) AS d FROM (SELECT 'p' AS kind, city AS v FROM people "
            "UNION ALL SELECT 'o', note FROM orders UNION ALL SELECT 't', tag FROM tags%s) GROUP BY kind ORDER BY kind"
            % r.choice(["", " UNION ALL SELECT 'e', label FROM empty_t", " WHERE person_id > 50"]))


def t_in_list(r):
    picks = r.sample(CITIES, r.randint(1, 4))
    lst = ", ".join("'%s'" % c for c in picks) + (", NULL" if r.random() < 0.5 else "")
    return "SELECT id, city FROM people WHERE city %s (%s) ORDER BY id" % (r.choice(["IN", "NOT IN"]), lst)


def t_cte_two(r):
    return ("WITH spend AS (SELECT person_id, SUM(amount) AS s FROM orders GROUP BY person_id), "
            "tagged AS (SELECT DISTINCT person_id FROM tags) "
            "SELECT spend.person_id, spend.s, tagged.person_id IS NOT NULL AS has_tag FROM spend "
            "LEFT JOIN tagged ON tagged.person_id = spend.person_id WHERE spend.s %s %d ORDER BY 1"
            % (r.choice([">", "<"]), r.randint(0, 60)))


def t_recursive_walk(r):
    return ("WITH RECURSIVE walk(id, depth) AS (SELECT MIN(id), 0 FROM people UNION ALL "
            "SELECT (SELECT MIN(id) FROM people WHERE id > walk.id), depth + 1 FROM walk "
            "WHERE depth < %d AND walk.id IS NOT NULL) SELECT walk.depth, walk.id, p.name FROM walk "
            "LEFT JOIN people p ON p.id = walk.id ORDER BY 1" % r.randint(2, 45))


def t_orders_by_date(r):
    return ("SELECT strftime('%%Y', placed) AS y, COUNT(*) AS n, SUM(amount) AS s, ROUND(AVG(amount), %d) AS a, "
            "SUM(qty * amount) AS v FROM orders GROUP BY y ORDER BY y" % r.randint(0, 4))


# Queries written for the dialect differences a room author meets between SQLite and DuckDB. They draw
# from a random source of their own, so adding them left every query of TEMPLATES as it was.

def t_literals(r):
    return ("SELECT id, 0.1 + 0.2 AS dec, %d / %d AS q, 2.5 * %d AS prod, score * 1.5 AS f FROM people "
            "WHERE score IS NOT NULL ORDER BY id" % (r.randint(1, 9), r.randint(2, 9), r.randint(1, 4)))


def t_overflow(r):
    return ("SELECT id, id * %d AS big FROM people ORDER BY id"
            % r.choice([92233720368547758, 46116860184273879, 4611686018427387904, 9223372036854775807]))


def t_affinity(r):
    return "SELECT id FROM people WHERE %s ORDER BY id" % r.choice([
        "active = 'true'", "active = '1'", "age = '25'", "age > '3'", "joined = '2024-02-29'", "score = '0.1'",
        "id = '017'", "age < '100'"])


def t_collation(r):
    return r.choice([
        "SELECT id, name FROM people WHERE name %s '%s' ORDER BY name, id" % (r.choice(["<", ">=", "<="]),
                                                                          r.choice(["a", "Z", "é", "Ann", "Ω"])),
        "SELECT MIN(name) AS mn, MAX(name) AS mx, MIN(city) AS mc, MAX(city) AS xc FROM people",
        "SELECT name, city FROM people WHERE name = %s ORDER BY 1, 2" % r.choice(["'ann'", "'Chloé'", "upper(name)"]),
    ])


def t_bare_column(r):
    return ("SELECT city, name, %s(%s) AS v FROM people GROUP BY city ORDER BY 1"
            % (r.choice(["MAX", "MIN"]), r.choice(["id", "score"])))


DIALECT_TEMPLATES = [t_literals, t_overflow, t_affinity, t_collation, t_bare_column]

TEMPLATES = [t_join_count, t_filter_int, t_strings, t_floats, t_bools, t_dates, t_inner, t_left, t_outer, t_cross, t_natural,
             t_using, t_self, t_comma, t_aggregate, t_distinct_count, t_scalar_sub, t_in, t_exists, t_cte,
             t_recursive, t_recursive_days, t_window_rank, t_window_sum, t_window_lag, t_window_misc, t_setops,
             t_limit, t_distinct, t_nulls, t_null_order, t_unicode, t_like, t_cast, t_printf, t_json, t_empty,
             t_views, t_derived, t_case, t_int_math, t_math, t_view_using, t_setops_limit, t_between, t_having_sub,
             t_text_funcs, t_values, t_blob, t_group_multi, t_orders_by_date, t_nested, t_three_way, t_union_agg,
             t_in_list, t_cte_two, t_recursive_walk]
ROUNDS = 12


def make_queries(rng, seed):
    """Every query of the corpus: a round through the templates at a time, no query twice."""
    seen, queries = set(), []
    dialect_rng = random.Random("%d dialect" % seed)
    for _ in range(ROUNDS):
        for t in TEMPLATES + DIALECT_TEMPLATES:
            for _attempt in range(20):
                sql = t(dialect_rng if t in DIALECT_TEMPLATES else rng)
                if sql not in seen:
                    break
            else:
                continue
            seen.add(sql)
            queries.append(("q%03d_%s" % (len(queries) + 1, t.__name__[2:]), sql))
    return queries


# ---- rooms ----

def room_yaml(room, queries, tables, engine=None):
    """A room of these queries; with engine duckdb, each is a computation of that engine and there are no views."""
    perms = ["upload %s" % t for t in tables]
    for name, _ in queries:
        perms += ["run %s" % name, "fetch %s" % name]
    lines = ["version: 1", "name: %s" % room, "enclave: dcrd:sim", "authentication: {ca: ca.pem}",
             "participants:", "  alice@acme.example:"]
    lines += ["    - %s" % p for p in perms]
    lines.append("data:")
    for name, (cols, _) in tables.items():
        lines.append("  %s:" % name)
        lines.append("    type: table")
        lines.append("    columns:")
        for c, typ, nullable in cols:
            lines.append("      - {name: %s, type: %s, nullable: %s}" % (c, typ, "true" if nullable else "false"))
    lines.append("compute:")
    for name, sql in (queries if engine else VIEWS + queries):
        lines.append("  %s:" % name)
        lines.append("    type: sql")
        if engine:
            lines.append("    engine: %s" % engine)
        lines.append("    query: |")
        lines += ["      " + line for line in sql.split("\n")]
    return "\n".join(lines) + "\n"


# ---- dialect differences ----

class Rule:
    """
    A difference between SQLite's dialect and DuckDB's that the corpus
    meets. A query whose DuckDB answer is not the sqlite3 shell's must be
    of a template that names the rules explaining it (DIALECT), and the
    generator checks the explanation where it can: `settings` (DuckDB SET
    statements) and `rewrites` (regular expression, replacement) on the
    query undo the rule in DuckDB, `same` compares two cells the rule
    allows to differ; if DuckDB's answer with every undo of the template's
    rules is the shell's, the difference is "checked". A rule without an
    undo can only be "declared" (the count is reported). `refusal` is a
    pattern of DuckDB's message for a query it does not prepare or fails
    running, and such a query must match a rule of its template. `names`:
    the rule lets the column names differ (not their number). `port`:
    rewrites of a query DuckDB refuses into DuckDB's dialect, so the rest of
    it is still compared (the port is one more query of the corpus, NAME_port).
    """

    def __init__(self, name, text, settings=(), rewrites=(), same=None, refusal=None, names=False, port=()):
        self.name, self.text, self.settings, self.rewrites = name, text, settings, rewrites
        self.same, self.refusal, self.names, self.port = same, refusal, names, port


def is_real(cell):
    try:
        float(cell)
    except ValueError:
        return False
    return any(ch in cell for ch in ".eIn")


def near_real(a, b):
    """Doubles that differ in their last digits only (relative difference at most 1e-12)."""
    return is_real(a) and is_real(b) and abs(float(a) - float(b)) <= 1e-12 * max(abs(float(a)), abs(float(b)))


def int_as_real(a, b):
    """The same number, an integer in one and a real in the other."""
    if is_real(a) == is_real(b):
        return False
    try:
        return int(b if is_real(a) else a) == float(a if is_real(a) else b)
    except ValueError:
        return False


def other_case(a, b):
    """The same text but for non-ASCII letters in another case (each still one code point)."""
    def alike(x, y):
        return x == y or (not (x.isascii() and y.isascii()) and
                          (x.lower()[:1] == y.lower()[:1] or x.upper()[:1] == y.upper()[:1]))
    return len(a) == len(b) and all(alike(x, y) for x, y in zip(a, b))


def json_alike(a, b):
    """JSON texts of the same values, numbers within 15 significant digits."""
    import json

    def alike(x, y):
        if isinstance(x, dict) and isinstance(y, dict):
            return list(x) == list(y) and all(alike(x[k], y[k]) for k in x)
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(alike(p, q) for p, q in zip(x, y))
        if isinstance(x, float) or isinstance(y, float):
            return (isinstance(x, (int, float)) and isinstance(y, (int, float)) and
                    abs(x - y) <= 1e-14 * max(abs(x), abs(y)))
        return x == y and type(x) is type(y)
    try:
        return alike(json.loads(a), json.loads(b))
    except ValueError:
        return False


def one_place(a, b):
    """Decimals that differ by at most one unit in the last place the shorter of them shows."""
    if not (is_real(a) and is_real(b)) or "e" in a + b:
        return False
    places = min(len(x.split(".")[1]) if "." in x else 0 for x in (a, b))
    return abs(float(a) - float(b)) <= 10 ** -places * (1 + 1e-9)


RULES = {r.name: r for r in [
    Rule("null-order", "NULL sorts first in ascending order in SQLite (it is the smallest value) and last in "
         "DuckDB (ORDER BY, window ORDER BY, and so LIMIT after ORDER BY, rank and frame positions)",
         settings=["SET default_null_order = 'nulls_first_on_asc_last_on_desc'"]),
    Rule("like-case", "LIKE ignores ASCII case in SQLite ('ann' LIKE 'A%' is true) and is case-sensitive in "
         "DuckDB (ILIKE ignores case)", rewrites=[(r"\bLIKE\b", "ILIKE")]),
    Rule("int-division", "/ of two integers truncates to an integer in SQLite (7 / 2 = 3, x / 0 is NULL) and gives "
         "a DOUBLE in DuckDB (3.5; x / 0 is inf, -inf or nan; // divides integers)",
         settings=["SET integer_division = true"]),
    Rule("float-order", "sums of doubles (SUM, AVG, windowed sums) add in another order, so the last digits may "
         "differ (1800.3999999999994 and 1800.3999999999999)", same=near_real),
    Rule("float-libm", "math functions are other implementations: the last digit may differ "
         "(log10: 0.5440680443502756 and 0.5440680443502757)", same=near_real),
    Rule("round-half", "ROUND(x, n) of a double just below a half: SQLite 3.40 rounds through its own decimal "
         "conversion, which takes 9.466249999999999 up to 9.4663, DuckDB the binary value, down to 9.4662",
         same=one_place),
    Rule("unicode-case", "upper() and lower() change ASCII letters only in SQLite and every letter with a case in "
         "DuckDB (upper('straße') is STRAßE and STRAẞE)", same=other_case),
    Rule("unicode-empty", "unicode('') is NULL in SQLite and -1 in DuckDB",
         rewrites=[(r"\bunicode\((\w+)\)", r"nullif(unicode(\1), -1)")]),
    Rule("printf", "printf() in DuckDB is NULL when an argument is NULL and pads %-6s to characters, not bytes; "
         "format() takes {} placeholders ('%d items' stays as written)"),
    Rule("json-extract", "json_extract() returns JSON in DuckDB (\"São Paulo\" quoted, null as null) and an SQL "
         "value in SQLite (json_extract_string() returns text)",
         rewrites=[(r"\bjson_extract\(", "json_extract_string(")]),
    Rule("json-doubles", "a double in a JSON text is written in its shortest form in DuckDB (1.5e-7, "
         "123456789.12345679) and with 15 significant digits in SQLite (1.5e-07, 123456789.123457)",
         same=json_alike),
    Rule("one-type", "a result column has one type in DuckDB, and each value its own in SQLite: lead(amount, 2, 0) "
         "is the integer 0 in SQLite and 0.0 in DuckDB", same=int_as_real),
    Rule("values-names", "the columns of VALUES are column1, column2... in SQLite and col0, col1... in DuckDB, "
         "whose VALUES columns also have one type (-1 beside 2.5 is -1.0)",
         refusal=r'Referenced column "column1" not found', names=True,
         port=[(r"\bcolumn(\d)\b", lambda m: "col%d" % (int(m.group(1)) - 1))]),
    Rule("sqlite-functions", "SQLite functions DuckDB does not have: total(), iif(), quote(), zeroblob(), "
         "julianday(), date() with modifiers",
         refusal=r"Scalar Function with name (total|iif|quote|zeroblob|julianday) does not exist|"
                 r"Wrong number of arguments provided to DATE function",
         port=[(r"\btotal\((\w+)\)", r"CAST(COALESCE(SUM(\1), 0) AS DOUBLE)"), (r"\biif\(", "if("),
               (r"\bzeroblob\((\d+)\)", lambda m: "CAST(repeat('\\x00', %s) AS BLOB)" % m.group(1)),
               (r"\bquote\((\w+)\)", r"('''' || replace(\1, '''', '''''') || '''')"),
               (r"\bdate\((\w+), '\+(\d+) days?'\)", r"CAST(\1 + INTERVAL \2 DAY AS DATE)"),
               (r"\bjulianday\((\w+)\) - julianday\('([\d-]+)'\)", r"(\1 - DATE '\2')")]),
    Rule("blobs", "x'00ff10' is a blob in SQLite and the text 'x00ff10' in DuckDB; CAST(text AS BLOB) is the "
         "text's bytes in SQLite and fails in DuckDB for a text that is not ASCII; dcr writes a SQLite blob in "
         "hex (00ff10) and a DuckDB BLOB as DuckDB's text of it (\\x00\\xFF\\x10)",
         refusal=r"Invalid byte encountered in STRING -> BLOB conversion"),
    Rule("decimal-literals", "a literal with a decimal point is DECIMAL in DuckDB and a double in SQLite: 0.1 + 0.2 "
         "is exactly 0.3 in DuckDB and 0.30000000000000004 in SQLite",
         rewrites=[(r"(?<![\w.])(\d+\.\d+)(?![\w.])", r"CAST(\1 AS DOUBLE)")]),
    Rule("int-overflow", "integer arithmetic that overflows 64 bits gives a double in SQLite "
         "(183 * 92233720368547758 is 1.687877082744424e+19) and fails the query in DuckDB (\"Out of Range Error\")",
         refusal=r"Overflow in multiplication of INT64"),
    Rule("text-literals", "a text compared with a column of another type is cast to the column's type in DuckDB "
         "(active = 'true' holds for every active row) and compared by SQLite's type affinity, which turns a text "
         "into a number only if it reads as one (active = 'true' is never true, active = '1' is)"),
    Rule("bare-columns", "a column neither grouped nor aggregated is allowed in SQLite (with MAX or MIN, it comes "
         "from the row holding the extreme) and refused by DuckDB (arg_max() and arg_min() say it)",
         refusal=r'column "name" must appear in the GROUP BY clause',
         port=[(r"\bSELECT city, name, (MAX|MIN)\((\w+)\) AS v\b",
                lambda m: "SELECT city, arg_%s(name, %s) AS name, %s(%s) AS v" % (m.group(1).lower(), m.group(2),
                                                                               m.group(1), m.group(2)))]),
    Rule("is-values", "IS and IS NOT compare any two values in SQLite (NULL-safe =); DuckDB has only IS [NOT] NULL "
         "and IS [NOT] DISTINCT FROM", refusal=r"syntax error at or near",
         port=[(r"\bIS NOT (?!NULL\b)([\w.]+)", r"IS DISTINCT FROM \1"),
               (r"\bIS (?!NOT\b|NULL\b|DISTINCT\b)([\w.]+)", r"IS NOT DISTINCT FROM \1")]),
    Rule("natural-none", "NATURAL JOIN of tables without a common column is a cross join in SQLite and refused by "
         "DuckDB", refusal=r"No columns found to join on in NATURAL JOIN",
         port=[(r"\bNATURAL JOIN\b", "CROSS JOIN")]),
    Rule("bool-numbers", "a bool is the integer 0 or 1 in SQLite and a BOOLEAN in DuckDB, where active + 1 is "
         "refused", refusal=r"No function matches the given name and argument types '\+\(BOOLEAN",
         port=[(r"\b(active) \+", r"CAST(\1 AS INTEGER) +")]),
    Rule("cast-range", "CAST to INTEGER saturates or takes a prefix in SQLite (CAST(1e20 AS INTEGER) is "
         "9223372036854775807, '12abc' is 12) and fails the query in DuckDB, whose INTEGER is 32 bits (as its REAL "
         "is a 32-bit FLOAT and NUMERIC a DECIMAL(18,3))",
         refusal=r"can't be cast because the value is out of range"),
    Rule("allow-list", "a DuckDB query may call only the functions on dcr's allow-list and may not sample "
         "rows or list the catalog (dcr-room(5), \"The duckdb engine\"): what is not the same for the same "
         "data (random(), now(), current_date, a bare user, USING SAMPLE), what is about the environment "
         "(version(), current_setting()) and SHOW, DESCRIBE, SUMMARIZE are refused at create (exit 6), "
         "though DuckDB itself runs them", refusal=r"is not allowed in a DuckDB query"),
]}

# The rules that may explain a template's differences.
DIALECT = {
    "strings": ["unicode-case"],
    "bools": ["bool-numbers"],
    "dates": ["sqlite-functions", "one-type"],
    "natural": ["float-order"],
    "aggregate": ["sqlite-functions", "null-order"],
    "recursive_days": ["sqlite-functions"],
    "window_rank": ["null-order"],
    "window_sum": ["float-order"],
    "window_lag": ["one-type"],
    "window_misc": ["null-order"],
    "distinct": ["null-order"],
    "nulls": ["is-values", "one-type"],
    "unicode": ["unicode-empty"],
    "like": ["like-case"],
    "cast": ["cast-range"],
    "printf": ["printf"],
    "json": ["json-extract", "json-doubles"],
    "empty": ["sqlite-functions"],
    "derived": ["null-order"],
    "case": ["sqlite-functions", "one-type"],
    "int_math": ["int-division"],
    "math": ["float-libm"],
    "setops": ["null-order"],
    "setops_limit": ["null-order"],
    "text_funcs": ["sqlite-functions"],
    "values": ["values-names", "one-type", "null-order"],
    "blob": ["sqlite-functions", "blobs"],
    "group_multi": ["null-order"],
    "orders_by_date": ["round-half"],
    "nested": ["is-values"],
    "outer": ["null-order"],
    "cte_two": ["null-order"],
    "join_count": ["natural-none"],
    "views": ["float-order", "null-order"],
    "literals": ["decimal-literals", "int-division"],
    "overflow": ["int-overflow"],
    "affinity": ["text-literals"],
    "bare_column": ["bare-columns", "null-order"],
}


def with_views(sql):
    """
    sql reading the views as common table expressions of the same queries:
    a duckdb computation cannot read another computation (dcr-room(5)).
    Each view the query reads, and each view those read, comes first, in
    the order of VIEWS (which lists a view after those it reads).
    """
    need = set()

    def reads(text):
        for name, view in VIEWS:
            if name not in need and re.search(r"\b%s\b" % name, text):
                need.add(name)
                reads(view)
    reads(sql)
    if not need:
        return sql
    ctes = ", ".join("%s AS (%s)" % (name, view) for name, view in VIEWS if name in need)
    for head in ("WITH RECURSIVE ", "WITH "):
        if sql.startswith(head):
            return "%s%s, %s" % (head, ctes, sql[len(head):])
    return "WITH %s %s" % (ctes, sql)


def same_results(a, b, rules):
    """Two results in dcr's format, the same but for cells one of the rules lets differ."""
    import csv
    import io

    ra = list(csv.reader(io.StringIO(a.decode(), newline="")))
    rb = list(csv.reader(io.StringIO(b.decode(), newline="")))
    sames = [r.same for r in rules if r.same]
    names = any(r.names for r in rules)
    return len(ra) == len(rb) and (ra[:1] == rb[:1] or names and len(ra[0]) == len(rb[0])) and all(
        len(x) == len(y) and all(p == q or any(f(p, q) for f in sames) for p, q in zip(x, y))
        for x, y in zip(ra[1:], rb[1:]))


def template(name):
    """q005_bools, q005_bools_port: bools."""
    cls = name.split("_", 1)[1]
    return cls[:-len("_port")] if cls.endswith("_port") else cls


def explain(duck, name, sql, kind, value, expected):
    """How the rules of name's template explain DuckDB's other answer: "checked" or "declared"."""
    rules = [RULES[n] for n in DIALECT.get(template(name), [])]
    if kind != "rows":
        if any(r.refusal and re.search(r.refusal, value) for r in rules):
            return "checked"
        raise SystemExit("sql-corpus: no rule explains why DuckDB says %s\n%s\n%s" % (kind, value, sql))
    settings = [x for r in rules for x in r.settings]
    for r in rules:
        for pattern, replacement in r.rewrites:
            sql = re.sub(pattern, replacement, sql)
    undone = duck.answer(sql, settings)
    if undone[0] == "rows" and same_results(undone[1], expected, rules):
        return "checked"
    if any(not (r.settings or r.rewrites or r.same or r.refusal) for r in rules):
        return "declared"
    raise SystemExit("sql-corpus: no rule explains DuckDB's answer to %s\n%s\n%s\nSQLite:\n%s" %
                     (name, sql, value.decode(), expected.decode()))


def duck_corpus(out, lib, tables, queries, db, expected):
    """
    The same queries for the duckdb engine: duck-room-N.yaml (the queries
    DuckDB prepares), duck-queries.tsv (room, name, verdict, the SQL as run;
    room 0: DuckDB refuses it, and duck-refused/NAME.yaml is a room of it
    alone, which dcr create must refuse) and duck-expected/NAME
    (the result for "same" and "differs", DuckDB's message for "refused"
    and "fails"). Verdicts: same (DuckDB's answer is the sqlite3 shell's, byte
    for byte), differs (it is not: the expected result is DuckDB's, and a
    rule of DIALECT must name the template), fails (DuckDB prepares the
    query and fails running it), refused (DuckDB does not prepare it).
    """
    duck = DuckOracle(lib, out, tables)
    os.makedirs(os.path.join(out, "duck-expected"), exist_ok=True)
    verdicts, runnable, todo = [], [], []
    for name, sql in queries:
        dsql = with_views(sql)
        if dsql != sql and oracle(db, dsql) != expected[name]:
            raise SystemExit("sql-corpus: %s gives another result in SQLite with its views as CTEs" % name)
        todo.append((name, dsql))
    while todo:
        name, dsql = todo.pop(0)
        if name.endswith("_port"):
            expected[name] = expected[name[:-len("_port")]]
        kind, value = duck.answer(dsql)
        # dcr refuses at create what its allow-list does not let through: a query DuckDB would run (the
        # template must name the rule allow-list), or one DuckDB refuses too (a rule must explain DuckDB's
        # reason, as for any refusal), and then says the allow-list's reason, not DuckDB's.
        refusal = duck.not_allowed(dsql)
        if refusal and kind != "refused":
            kind, value = "refused", refusal
        if name.endswith("_port") and kind == "refused":
            raise SystemExit("sql-corpus: DuckDB refuses the port %s: %s\n%s" % (name, value, dsql))
        verdict, check = ("same", "") if kind == "rows" and value == expected[name] else \
            (kind if kind != "rows" else "differs", explain(duck, name, dsql, kind, value, expected[name]))
        if refusal:
            value = refusal
        if kind != "rows":
            value = value.encode()
        verdicts.append((name, verdict, check, dsql))
        if verdict != "refused":
            runnable.append((name, dsql))
        else:
            ported = dsql
            for r in DIALECT.get(template(name), []):
                for pattern, replacement in RULES[r].port:
                    ported = re.sub(pattern, replacement, ported, flags=re.I)
            if ported != dsql:
                todo.insert(0, (name + "_port", ported))
            os.makedirs(os.path.join(out, "duck-refused"), exist_ok=True)
            with open(os.path.join(out, "duck-refused", name + ".yaml"), "w", encoding="utf-8") as f:
                f.write(room_yaml("sql-corpus-duckdb-" + name, [(name, dsql)], tables, "duckdb"))
        with open(os.path.join(out, "duck-expected", name), "wb") as f:
            f.write(value)
    room_of = {}
    for k in range(0, len(runnable), ROOM_SIZE):
        n = k // ROOM_SIZE + 1
        part = runnable[k:k + ROOM_SIZE]
        with open(os.path.join(out, "duck-room-%d.yaml" % n), "w", encoding="utf-8") as f:
            f.write(room_yaml("sql-corpus-duckdb-%d" % n, part, tables, "duckdb"))
        room_of.update((name, n) for name, _ in part)
    counts = {}
    with open(os.path.join(out, "duck-queries.tsv"), "w", encoding="utf-8") as listing:
        for name, verdict, check, dsql in verdicts:
            listing.write("%d\t%s\t%s\t%s\n" % (room_of.get(name, 0), name, verdict, dsql.replace("\n", " ")))
            cls = template(name)
            if check == "declared":
                verdict += " (declared)"
            if name.endswith("_port"):
                verdict = "port " + verdict
            counts.setdefault(cls, {}).setdefault(verdict, 0)
            counts[cls][verdict] += 1
    for cls in sorted(counts):
        print("duckdb %-16s %s" % (cls, " ".join("%s %d" % kv for kv in sorted(counts[cls].items()))))
    print("duckdb %s: %s" % (duck.version, ", ".join("%s %d" % (v, sum(c.get(v, 0) for c in counts.values()))
                                                   for v in ("same", "differs", "differs (declared)", "fails",
                                                             "refused", "port same", "port differs",
                                                             "port differs (declared)", "port fails"))))


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit("usage: sql-corpus.py DIR SEED COUNT|ALL [LIBDUCKDB]")
    out, seed, count = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    tables = make_tables(rng)
    queries = make_queries(rng, seed)
    if count != "ALL":
        queries = queries[:int(count)]
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    write_tables(out, tables, rng)
    db = load_oracle(out, tables, VIEWS)
    expected = {}
    with open(os.path.join(out, "queries.tsv"), "w", encoding="utf-8") as listing:
        for k in range(0, len(queries), ROOM_SIZE):
            n = k // ROOM_SIZE + 1
            part = queries[k:k + ROOM_SIZE]
            with open(os.path.join(out, "room-%d.yaml" % n), "w", encoding="utf-8") as f:
                f.write(room_yaml("sql-corpus-%d" % n, part, tables))
            for name, sql in part:
                listing.write("%d\t%s\t%s\n" % (n, name, sql.replace("\n", " ")))
                expected[name] = oracle(db, sql)
                with open(os.path.join(out, "expected", name + ".csv"), "wb") as f:
                    f.write(expected[name])
    print("%d queries, seed %d" % (len(queries), seed))
    if len(sys.argv) == 5:
        duck_corpus(out, sys.argv[4], tables, queries, db, expected)


if __name__ == "__main__":
    main()
