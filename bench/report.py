"""Tables, target checks and the SVG chart for bench.py results (stdlib only)."""
import math
from xml.sax.saxutils import escape

ST, REF, PG = "securetodo", "reference", "securetodo-pg"

# Scenarios where the reference has no own row: it returns the whole list on
# every request, so a "page" of it is the whole list (the same measurement).
REF_SAME_AS = {"list1k_deep": "list1k", "list100k_deep": "list100k",
               # The reference has no API tokens: compare with its (bearer) list.
               "list20_token": "list20"}


def index(runs):
    out = {}
    for r in runs:
        out[(r["app"], r["scenario"], r["conns"])] = r
    return out


def ref_cell(idx, key, conns):
    """The reference run compared with SecureTodo's (key, conns), and a note."""
    k = REF_SAME_AS.get(key, key)
    r = idx.get((REF, k, conns))
    if r is not None:
        if key == "list20_token":
            return r, "its JWT list"
        return r, ("whole list" if k != key else "")
    cands = [v for (app, s, c), v in idx.items() if app == REF and s == k]
    if cands and k == "list100k":
        return cands[0], f"whole list, {cands[0]['conns']} conn"
    return None, ""


def ok(r):
    return r is not None and not r.get("skipped")


def fnum(x, nd=1):
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{max(nd, 2)}f}"


def rows(data, scenarios, st_app=ST):
    """One row per (scenario, conns) of `st_app` (SecureTodo on SQLite, or
    on PostgreSQL) beside the reference."""
    idx = index(data["runs"])
    ST = st_app  # noqa: N806
    out = []
    for key, label in scenarios.items():
        conns = sorted({c for (app, s, c) in idx if s == key and app == ST}
                       | {c for (app, s, c) in idx if s == key and app == REF})
        if not conns and key in REF_SAME_AS:
            continue
        for c in conns:
            st = idx.get((ST, key, c))
            if st is None and (REF, key, c) in idx and key == "list100k" and c == 1:
                continue  # the reference's capped run is shown beside SecureTodo's rows
            ref, note = ref_cell(idx, key, c)
            if key == "patch":
                note = "no update route"
            ratio = (st["rps"] / ref["rps"]) if ok(st) and ok(ref) and ref["rps"] else None
            out.append({"key": key, "label": label, "conns": c, "st": st, "ref": ref,
                        "note": note, "ratio": ratio})
    return out


def cells(r, key=None):
    if r is None:
        return ["n/a", "", "", "", ""]
    if r.get("skipped"):
        return ["skipped", "", "", "", ""]
    warn = " !" if r.get("contended") else ""
    if r.get("stalled"):
        d = "none"
        return ["0" + warn, d, d, str(r["errors"]), f"{r['rss_mib']:.0f}"]
    return [fnum(r["rps"]) + warn, fnum(r["p50_ms"]), fnum(r["p99_ms"]), str(r["errors"]), f"{r['rss_mib']:.0f}"]


def targets(data):
    idx = index(data["runs"])
    nproc = data["machine"].get("nproc", 2)
    res = []

    def add(name, passed, detail):
        res.append({"target": name, "pass": passed, "detail": detail})

    for app, on in ((ST, ""), (PG, " on PostgreSQL")):
        st, ref = idx.get((app, "list20", 64)), idx.get((REF, "list20", 64))
        if ok(st) and ok(ref):
            ratio = st["rps"] / ref["rps"]
            add(f"list 20 todos{on} >= 25x reference at 64 conns, p99 < 10 ms",
                ratio >= 25 and (st["p99_ms"] or 1e9) < 10,
                f"{ratio:.1f}x ({st['rps']:,.0f} vs {ref['rps']:,.0f} req/s), p99 {st['p99_ms']:.2f} ms")
        for key, c in ((k, c) for k in ("create", "create_many") for c in (16, 64)):
            st, ref = idx.get((app, key, c)), idx.get((REF, key, c))
            if ok(st) and ok(ref):
                ratio = st["rps"] / ref["rps"]
                what = "create" if key == "create" else "create over 64 accounts"
                add(f"{what}{on} >= 15x reference with zero errors ({c} conns)",
                    ratio >= 15 and st["errors"] == 0,
                    f"{ratio:.1f}x ({st['rps']:,.0f} vs {ref['rps']:,.0f} req/s), {st['errors']} errors")
    for app, on in ((ST, ""), (PG, " on PostgreSQL")):
        for c in (16, 64):
            jwt, token = idx.get((app, "list20", c)), idx.get((app, "list20_token", c))
            if ok(jwt) and ok(token) and jwt["rps"]:
                share = token["rps"] / jwt["rps"]
                add(f"list 20 with an API token{on} within 10 % of the JWT figure ({c} conns)",
                    share >= 0.9,
                    f"{share * 100:.0f} % ({token['rps']:,.0f} vs {jwt['rps']:,.0f} req/s)")
    one = idx.get((ST, "login1", 1))
    if ok(one) and one["requests"]:
        hash_s = one["mean_ms"] / 1000 if one.get("mean_ms") else one["p50_ms"] / 1000
        limit = nproc / hash_s
        for c in (16, 64):
            st = idx.get((ST, "login", c))
            if ok(st):
                add(f"login >= 95 % of the bcrypt limit ({c} conns)", st["rps"] >= 0.95 * limit,
                    f"{st['rps']:.2f} req/s = {100 * st['rps'] / limit:.0f} % of {limit:.2f} "
                    f"({nproc} cores / {1000 * hash_s:.0f} ms per login at 1 conn)")
    st = idx.get((ST, "flood", 4))
    if ok(st):
        fl = st.get("flood", {})
        add("list p99 < 50 ms during a 64-conn login flood", (st["p99_ms"] or 1e9) < 50,
            f"list p99 {st['p99_ms']:.2f} ms at {st['rps']:.0f} req/s, errors {st['errors']}; "
            f"flood {fl.get('login_rps')} logins/s")
    for c in (16, 64):
        a, b = idx.get((ST, "list100k", c)), idx.get((ST, "list100k_deep", c))
        if ok(a) and ok(b):
            diff = abs(a["rps"] - b["rps"]) / max(a["rps"], b["rps"])
            add(f"100,000-todo account: first and deep page within 20 % ({c} conns)", diff <= 0.2,
                f"{a['rps']:,.0f} vs {b['rps']:,.0f} req/s ({100 * diff:.0f} % apart); "
                f"p99 {a['p99_ms']:.2f} vs {b['p99_ms']:.2f} ms")
    rss = [r for r in data["runs"] if r["app"] == ST and ok(r)]
    if rss:
        top = max(rss, key=lambda r: r["rss_mib"])
        add("peak RSS under load < 30 MiB", top["rss_mib"] < 30,
            f"max {top['rss_mib']:.1f} MiB ({top['scenario']} at {top['conns']} conns)")
    return res


HEAD = ["scenario", "conns", "ST req/s", "p50 ms", "p99 ms", "err", "RSS MiB",
        "ref req/s", "p50 ms", "p99 ms", "err", "RSS MiB", "ST/ref", "note"]


def table_of(data, scenarios, st_app):
    table = []
    for r in rows(data, scenarios, st_app):
        if r["st"] is None:
            continue
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] else "-"
        table.append([r["label"], str(r["conns"])] + cells(r["st"]) + cells(r["ref"]) + [ratio, r["note"]])
    return table


def render(data, scenarios):
    table = table_of(data, scenarios, ST)
    if not table:
        table = []
    pg_table = table_of(data, scenarios, PG)
    tg = targets(data)
    m = data["machine"]

    # plain text
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(HEAD)]
    def line(vals):
        return "  ".join(v.ljust(w) if i in (0, 13) else v.rjust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    text = [f"SecureTodo vs FastAPI reference: {m.get('date_utc')} on {m.get('nproc')} cores "
            f"({m.get('cpu', '?')}), {m.get('wrk')}, {data['params']['duration']} s per run",
            line(HEAD), line(["-" * w for w in widths])]
    text += [line(row) for row in table]
    if pg_table:
        text += ["", "SecureTodo on PostgreSQL (ST = securetodo-pg, same binary) vs the reference:",
                 line(HEAD), line(["-" * w for w in widths])]
        text += [line([v[:w] if i == 0 else v for i, (v, w) in enumerate(zip(row, widths))])
                 for row in pg_table]
    text.append("")
    text.append("Targets:")
    for t in tg:
        text.append(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['target']}: {t['detail']}")
    flood = [r for r in data["runs"] if r["scenario"] == "flood" and ok(r)]
    for r in flood:
        fl = r.get("flood", {})
        text.append(f"  flood ({r['app']}): {fl.get('login_rps')} logins/s, login p99 {fl.get('login_p99_ms')} ms")
    if any(r.get("contended") for r in data["runs"]):
        text.append("  ! = other processes used > %.2f cores during that run (shared host)" % data["params"]["contended"])
    for n in data.get("notes", []):
        text.append(f"  note: {n}")

    # markdown
    md = [f"Run {m.get('date_utc')}, commit {m.get('securetodo_commit')}, {m.get('nproc')} cores "
          f"({m.get('cpu', '?')}), {m.get('wrk')}, {data['params']['duration']} s per measured run, "
          f"whole run {m.get('elapsed_s')} s. ST = SecureTodo, ref = FastAPI reference (1 worker). "
          f"Latencies in ms, RSS = peak resident memory of the server during the run.", "",
          "| " + " | ".join(HEAD) + " |", "|" + "|".join(["---"] + ["---:"] * 12 + ["---"]) + "|"]
    md += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in table]
    if pg_table:
        md += ["", "SecureTodo on PostgreSQL (same binary, `DATABASE_URL=postgres://…`, local PostgreSQL "
               "on the same 2 cores) vs the reference:", "",
               "| " + " | ".join(HEAD) + " |", "|" + "|".join(["---"] + ["---:"] * 12 + ["---"]) + "|"]
        md += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in pg_table]
    md += ["", "| target | result | measured |", "|---|---|---|"]
    md += [f"| {t['target']} | {'**pass**' if t['pass'] else '**FAIL**'} | {t['detail']} |" for t in tg]
    for r in flood:
        fl = r.get("flood", {})
        md.append("")
        md.append(f"Flood ({r['app']}): {fl.get('login_rps')} logins/s, login p50/p99 "
                  f"{fl.get('login_p50_ms')}/{fl.get('login_p99_ms')} ms, login errors {fl.get('login_errors')}.")
    if any(r.get("contended") for r in data["runs"]):
        md.append("")
        md.append("`!`: other processes used more than %.2f cores during that run (shared host)." %
                  data["params"]["contended"])
    for n in data.get("notes", []):
        md.append(f"\nNote: {n}")
    return "\n".join(text), "\n".join(md) + "\n", tg


# --------------------------------------------------------------------------- chart
COLORS = {ST: "#1f6feb", REF: "#d9822b"}


def chart(data, scenarios):
    """Two horizontal log-scale bar panels: req/s and p99 latency per scenario."""
    items = []
    for r in rows(data, scenarios):
        items.append(r)
    # one row per scenario: its highest connection count (the flood has one)
    best = {}
    for r in items:
        if r["key"] not in best or r["conns"] > best[r["key"]]["conns"]:
            best[r["key"]] = r
    items = [best[k] for k in scenarios if k in best]
    label_w, panel_w, gap, row_h, top = 330, 330, 40, 34, 70
    width = label_w + 2 * panel_w + gap + 30
    height = top + row_h * len(items) + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">SecureTodo vs FastAPI reference '
           f'({escape(str(data["machine"].get("date_utc", "")))}, {data["machine"].get("nproc")} cores, wrk, loopback)</text>']
    lx = 10
    for i, (app, name) in enumerate(((ST, "SecureTodo"), (REF, "FastAPI reference"))):
        out.append(f'<rect x="{lx}" y="32" width="12" height="12" fill="{COLORS[app]}"/>')
        out.append(f'<text x="{lx + 16}" y="42">{name}</text>')
        lx += 170
    out.append(f'<text x="{lx}" y="42" fill="#555">log scales; each row at its highest connection count</text>')

    def panel(x0, title, metric, unit, better):
        vals = [r[w][metric] for r in items for w in ("st", "ref") if ok(r[w]) and (r[w][metric] or 0) > 0]
        if not vals:
            return
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        if hi <= lo:
            hi = lo * 10
        span = math.log10(hi) - math.log10(lo)

        def px(v):
            return x0 + panel_w * (math.log10(max(v, lo)) - math.log10(lo)) / span
        out.append(f'<text x="{x0}" y="{top - 12}" font-weight="bold">{title} ({unit}, {better})</text>')
        e = lo
        while e <= hi * 1.0001:
            x = px(e)
            out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row_h * len(items)}" stroke="#ddd"/>')
            lab = f"{e:g}" if e < 10000 else f"{e:.0e}".replace("+0", "")
            out.append(f'<text x="{x:.1f}" y="{top + row_h * len(items) + 14}" text-anchor="middle" fill="#555">{lab}</text>')
            e *= 10
        for i, r in enumerate(items):
            y = top + i * row_h
            for j, w in enumerate(("st", "ref")):
                run = r[w]
                yy = y + 4 + j * 13
                if ok(run) and (run[metric] or 0) > 0:
                    x1 = px(run[metric])
                    out.append(f'<rect x="{x0}" y="{yy}" width="{max(1.0, x1 - x0):.1f}" height="11" fill="{COLORS[ST if w == "st" else REF]}"/>')
                    v = run[metric]
                    txt = f"{v:,.0f}" if v >= 100 else (f"{v:.1f}" if v >= 1 else f"{v:.2f}")
                    out.append(f'<text x="{x1 + 3:.1f}" y="{yy + 10}" font-size="10">{txt}</text>')
                elif ok(run) and run.get("stalled"):
                    out.append(f'<text x="{x0 + 3}" y="{yy + 10}" font-size="10" fill="#b00">'
                               f'no response within the {data["params"]["duration"]} s run</text>')
                else:
                    out.append(f'<text x="{x0 + 3}" y="{yy + 10}" font-size="10" fill="#888">n/a</text>')

    for i, r in enumerate(items):
        y = top + i * row_h
        out.append(f'<text x="10" y="{y + 15}">{escape(r["label"])}</text>')
        out.append(f'<text x="10" y="{y + 28}" fill="#666" font-size="10">{r["conns"]} conns'
                   + (f'; ref: {escape(r["note"])}' if r["note"] else "")
                   + (f'; ratio {r["ratio"]:.1f}x' if r["ratio"] else "") + '</text>')
        if i:
            out.append(f'<line x1="10" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#f0f0f0"/>')
    panel(label_w, "throughput", "rps", "req/s", "higher is better")
    panel(label_w + panel_w + gap, "p99 latency", "p99_ms", "ms", "lower is better")
    out.append("</svg>")
    return "\n".join(out) + "\n"
