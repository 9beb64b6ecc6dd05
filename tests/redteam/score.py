#!/usr/bin/env python3
"""Score Tamis against a red-team corpus (stdlib only).

    python3 score.py --tamis /path/.venv/bin/tamis --policies DIR FILE.jsonl [FILE2.jsonl ...] [--json OUT]

Each corpus line: {"listing": {...}, "as_of": "YYYY-MM-DD", "expect": {"decision": ..., "grounds": [...]},
"kind": ..., "family": ..., "lang": ..., "why": ...}. Lines are grouped by as_of and run through
`tamis eval --input <tmp> --as-of <date> --policies DIR`; its output is one verdict per input line, in order.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def norm_art(s):
    s = str(s or "").lower()
    s = s.replace("art.", "").replace("article", "")
    return re.sub(r"[\s.]", "", s)


def load(paths):
    cases = []
    for p in paths:
        for n, raw in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1):
            if raw.strip():
                c = json.loads(raw)
                c["_src"] = f"{Path(p).name}:{n}"
                cases.append(c)
    return cases


def run_tamis(tamis, policies, cases, timeout):
    by_date = defaultdict(list)
    for i, c in enumerate(cases):
        by_date[c["as_of"]].append(i)
    results = [None] * len(cases)
    for as_of, idxs in sorted(by_date.items()):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as tf:
            for i in idxs:
                tf.write(json.dumps(cases[i]["listing"], ensure_ascii=False) + "\n")
            tmp = tf.name
        cmd = [tamis, "eval", "--input", tmp, "--as-of", as_of]
        if policies:
            cmd += ["--policies", policies]
        try:
            p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        finally:
            Path(tmp).unlink()
        out = [ln for ln in p.stdout.splitlines() if ln.strip()]
        if len(out) != len(idxs):
            sys.stderr.write(
                f"as_of {as_of}: expected {len(idxs)} verdict lines, got {len(out)} (rc={p.returncode})\n"
                f"{p.stderr[-2000:]}\n"
            )
        for k, i in enumerate(idxs):
            if k < len(out):
                try:
                    results[i] = json.loads(out[k])
                except json.JSONDecodeError:
                    results[i] = {"error": "unparseable output line"}
            else:
                results[i] = {"error": "no output line"}
    return results


def cited_grounds(verdict):
    gs = []
    for m in verdict.get("matches") or []:
        if m.get("decision", "block") == "allow":
            continue
        for g in m.get("grounds") or []:
            gs.append((g.get("instrument", ""), g.get("article", ""), m.get("policy", "")))
    return gs


def ground_ok(expected, verdict):
    cited = cited_grounds(verdict)
    for e in expected:
        ea = norm_art(e["article"])
        for inst, art, _ in cited:
            if inst == e["instrument"] and ea and ea in norm_art(art):
                return True
    return False


def ratio(a, b):
    return None if b == 0 else a / b


def fmt(x):
    return "  -  " if x is None else f"{x:5.3f}"


class Tally:
    def __init__(self):
        self.n = 0
        self.exp = defaultdict(int)  # expected decision counts
        self.block_hit = 0  # exp block -> got block
        self.lawful_blocked = 0  # exp allow -> got block
        self.flag_as_block = 0  # exp flag -> got block
        self.flag_caught = 0  # exp flag -> got flag/block
        self.flag_exact = 0  # exp flag -> got flag
        self.got_allow = 0
        self.got_allow_ok = 0  # got allow and exp allow
        self.allow_ok = 0  # exp allow -> got allow
        self.caught = 0  # exp block/flag -> got block/flag
        self.ground_ok = 0
        self.exact = 0
        self.errors = 0

    def add(self, exp, got, gok):
        self.n += 1
        self.exp[exp] += 1
        if got == "error":
            self.errors += 1
        if got == exp:
            self.exact += 1
        if exp == "block" and got == "block":
            self.block_hit += 1
        if exp == "allow" and got == "block":
            self.lawful_blocked += 1
        if exp == "allow" and got == "allow":
            self.allow_ok += 1
        if exp == "flag":
            if got == "block":
                self.flag_as_block += 1
            if got in ("flag", "block"):
                self.flag_caught += 1
            if got == "flag":
                self.flag_exact += 1
        if got == "allow":
            self.got_allow += 1
            if exp == "allow":
                self.got_allow_ok += 1
        if exp in ("block", "flag") and got in ("block", "flag"):
            self.caught += 1
            if gok:
                self.ground_ok += 1

    def metrics(self):
        return {
            "n": self.n,
            "expected": dict(self.exp),
            "exact_decision": ratio(self.exact, self.n),
            "block_recall": ratio(self.block_hit, self.exp["block"]),
            "lawful_blocked": self.lawful_blocked,
            "lawful_blocked_rate": ratio(self.lawful_blocked, self.exp["allow"]),
            "flags_as_blocks": self.flag_as_block,
            "flag_or_block_recall_on_flag": ratio(self.flag_caught, self.exp["flag"]),
            "flag_exact_recall": ratio(self.flag_exact, self.exp["flag"]),
            "allow_precision": ratio(self.got_allow_ok, self.got_allow),
            "allow_recall": ratio(self.allow_ok, self.exp["allow"]),
            "caught": self.caught,
            "ground_accuracy": ratio(self.ground_ok, self.caught),
            "errors": self.errors,
        }


def reason(c, v, got, gok):
    exp = c["expect"]["decision"]
    pols = sorted({m.get("policy", "?") for m in v.get("matches") or [] if m.get("decision") != "allow"})
    if got == "error":
        return f"tamis error: {str(v.get('error'))[:120]}"
    if got != exp:
        return f"expected {exp}, got {got}" + (f" by {', '.join(pols)}" if pols else "")
    if exp in ("block", "flag") and not gok:
        cited = "; ".join(sorted({f"{i} {a}" for i, a, _ in cited_grounds(v)}))[:200]
        want = " | ".join(f"{g['instrument']} {g['article']}" for g in c["expect"]["grounds"])
        return f"ground mismatch: cited [{cited}] want one of [{want}]"
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tamis", required=True)
    ap.add_argument("--policies", default=None)
    ap.add_argument("--json", dest="json_out", default=None)
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument(
        "--quiet", action="store_true", help="totals and groups only, no case (for a holdout kept unread)"
    )
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    cases = load(a.files)
    verdicts = run_tamis(a.tamis, a.policies, cases, a.timeout)
    total = Tally()
    groups = {"family": defaultdict(Tally), "kind": defaultdict(Tally), "lang": defaultdict(Tally)}
    per_case, misses, lawful_blocked, flags_as_blocks = [], [], [], []
    for c, judged in zip(cases, verdicts, strict=True):
        v = judged or {"error": "missing"}
        exp = c["expect"]["decision"]
        got = "error" if "error" in v else v.get("decision", "error")
        gok = (
            ground_ok(c["expect"]["grounds"], v)
            if got in ("block", "flag") and exp in ("block", "flag")
            else None
        )
        total.add(exp, got, gok)
        for k in groups:
            groups[k][c.get(k, "?")].add(exp, got, gok)
        lid = c["listing"]["id"]
        r = reason(c, v, got, gok)
        rec = {
            "id": lid,
            "family": c.get("family"),
            "kind": c.get("kind"),
            "lang": c.get("lang"),
            "as_of": c["as_of"],
            "expected": exp,
            "got": got,
            "ground_ok": gok,
            "reason": r,
            "policies": sorted({m.get("policy", "?") for m in v.get("matches") or []}),
            "cited": sorted({f"{i} {ar}" for i, ar, _ in cited_grounds(v)}),
            "title": c["listing"]["title"],
        }
        per_case.append(rec)
        if r:
            misses.append(rec)
        if exp == "allow" and got == "block":
            lawful_blocked.append(rec)
        if exp == "flag" and got == "block":
            flags_as_blocks.append(rec)

    m = total.metrics()
    out = sys.stdout
    out.write(f"\nTamis red-team score  files={' '.join(a.files)}  policies={a.policies}\n")
    out.write(f"cases {m['n']}  expected {m['expected']}  errors {m['errors']}\n\n")
    rows = [
        ("block recall (exp block -> block)", fmt(m["block_recall"])),
        (
            "lawful blocked (exp allow -> block)",
            f"{m['lawful_blocked']} ({fmt(m['lawful_blocked_rate']).strip()})",
        ),
        ("flags as blocks (exp flag -> block)", str(m["flags_as_blocks"])),
        ("flag-or-block recall on exp flag", fmt(m["flag_or_block_recall_on_flag"])),
        ("exact flag recall (exp flag -> flag)", fmt(m["flag_exact_recall"])),
        ("allow precision (got allow & exp allow / got allow)", fmt(m["allow_precision"])),
        ("allow recall (exp allow -> allow)", fmt(m["allow_recall"])),
        ("ground accuracy (of caught block/flag cases)", f"{fmt(m['ground_accuracy'])} of {m['caught']}"),
        ("exact decision", fmt(m["exact_decision"])),
    ]
    for k, val in rows:
        out.write(f"  {k:<52} {val}\n")
    for gname, tallies in groups.items():
        out.write(
            f"\nby {gname}:\n  {'':<22}{'n':>4} {'blkRec':>7} {'lawBlk':>6} {'flgRec':>7} "
            f"{'flg>blk':>7} {'allowRc':>7} {'ground':>7} {'exact':>7}\n"
        )
        for name in sorted(tallies):
            t = tallies[name].metrics()
            out.write(
                f"  {name:<22}{t['n']:>4} {fmt(t['block_recall']):>7} {t['lawful_blocked']:>6} "
                f"{fmt(t['flag_or_block_recall_on_flag']):>7} {t['flags_as_blocks']:>7} "
                f"{fmt(t['allow_recall']):>7} "
                f"{fmt(t['ground_accuracy']):>7} {fmt(t['exact_decision']):>7}\n"
            )
    if lawful_blocked and not a.quiet:
        out.write("\nLAWFUL LISTINGS BLOCKED:\n")
        for r in lawful_blocked:
            out.write(
                f"  {r['id']} [{r['family']}/{r['kind']}/{r['lang']}] {r['title'][:60]!r} "
                f"by {', '.join(r['policies'])}\n"
            )
    if flags_as_blocks and not a.quiet:
        out.write("\nFLAG CASES BLOCKED:\n")
        for r in flags_as_blocks:
            out.write(
                f"  {r['id']} [{r['family']}/{r['kind']}/{r['lang']}] {r['title'][:60]!r} "
                f"by {', '.join(r['policies'])}\n"
            )
    if not a.quiet:
        out.write(f"\nMISSES ({len(misses)}):\n")
        for r in misses:
            out.write(f"  {r['id']} [{r['family']}/{r['kind']}/{r['lang']} {r['as_of']}] {r['reason']}\n")
    if a.json_out:
        with Path(a.json_out).open("w", encoding="utf-8") as f:
            json.dump(
                {
                    "files": a.files,
                    "policies": a.policies,
                    "total": m,
                    "by": {g: {n: t.metrics() for n, t in ts.items()} for g, ts in groups.items()},
                    "lawful_blocked": lawful_blocked,
                    "flags_as_blocks": flags_as_blocks,
                    "misses": misses,
                    "cases": per_case,
                },
                f,
                ensure_ascii=False,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
