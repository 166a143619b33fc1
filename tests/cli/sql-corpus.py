#!/usr/bin/env python3
"""The SQL differential corpus: tables and queries from a fixed seed, and
what the sqlite3 shell says each query returns, written in dcr's result
format (dcr-formats(5), SQL RESULTS), for tests/cli/sql-corpus.sh to
compare byte for byte with what `dcr run` returns.

usage: sql-corpus.py DIR SEED COUNT

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
"""
import os
import random
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


TEMPLATES = [t_join_count, t_filter_int, t_strings, t_floats, t_bools, t_dates, t_inner, t_left, t_outer, t_cross, t_natural,
             t_using, t_self, t_comma, t_aggregate, t_distinct_count, t_scalar_sub, t_in, t_exists, t_cte,
             t_recursive, t_recursive_days, t_window_rank, t_window_sum, t_window_lag, t_window_misc, t_setops,
             t_limit, t_distinct, t_nulls, t_null_order, t_unicode, t_like, t_cast, t_printf, t_json, t_empty,
             t_views, t_derived, t_case, t_int_math, t_math, t_view_using, t_setops_limit, t_between, t_having_sub,
             t_text_funcs, t_values, t_blob, t_group_multi, t_orders_by_date, t_nested, t_three_way, t_union_agg,
             t_in_list, t_cte_two, t_recursive_walk]
ROUNDS = 12


def make_queries(rng):
    """Every query of the corpus: a round through the templates at a time, no query twice."""
    seen, queries = set(), []
    for _ in range(ROUNDS):
        for t in TEMPLATES:
            for _attempt in range(20):
                sql = t(rng)
                if sql not in seen:
                    break
            else:
                continue
            seen.add(sql)
            queries.append(("q%03d_%s" % (len(queries) + 1, t.__name__[2:]), sql))
    return queries


# ---- rooms ----

def room_yaml(n, queries, tables):
    perms = ["upload %s" % t for t in tables]
    for name, _ in queries:
        perms += ["run %s" % name, "fetch %s" % name]
    lines = ["version: 1", "name: sql-corpus-%d" % n, "enclave: dcrd:sim", "authentication: {ca: ca.pem}",
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
    for name, sql in VIEWS + queries:
        lines.append("  %s:" % name)
        lines.append("    type: sql")
        lines.append("    query: |")
        lines += ["      " + line for line in sql.split("\n")]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: sql-corpus.py DIR SEED COUNT|ALL")
    out, seed, count = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    tables = make_tables(rng)
    queries = make_queries(rng)
    if count != "ALL":
        queries = queries[:int(count)]
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    write_tables(out, tables, rng)
    db = load_oracle(out, tables, VIEWS)
    with open(os.path.join(out, "queries.tsv"), "w", encoding="utf-8") as listing:
        for k in range(0, len(queries), ROOM_SIZE):
            n = k // ROOM_SIZE + 1
            part = queries[k:k + ROOM_SIZE]
            with open(os.path.join(out, "room-%d.yaml" % n), "w", encoding="utf-8") as f:
                f.write(room_yaml(n, part, tables))
            for name, sql in part:
                listing.write("%d\t%s\t%s\n" % (n, name, sql.replace("\n", " ")))
                with open(os.path.join(out, "expected", name + ".csv"), "wb") as f:
                    f.write(oracle(db, sql))
    print("%d queries, seed %d" % (len(queries), seed))


if __name__ == "__main__":
    main()
