#!/usr/bin/env bash
# Lists the functions of src/ longer than a limit (default 60 lines, from
# the `fn` line to its closing brace), tests left out; exits 1 when there
# is one. `--top N` prints the N longest instead, whatever their length.
#
#   ci/long-functions.sh [--limit N | --top N]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'EOF'
import pathlib, re, sys

args = sys.argv[1:]
limit, top = 60, None
if args[:1] == ["--limit"]:
    limit = int(args[1])
elif args[:1] == ["--top"]:
    top = int(args[1])
elif args:
    sys.exit("usage: ci/long-functions.sh [--limit N | --top N]")

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)")

def code_only(line, state):
    """The line without comments, strings and char literals; `state` carries
    an open block comment or string across lines."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if state["block"]:
            if line.startswith("*/", i):
                state["block"] = False
                i += 2
            else:
                i += 1
            continue
        if state["string"]:
            if c == "\\":
                i += 2
            elif c == '"':
                state["string"] = False
                i += 1
            else:
                i += 1
            continue
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] = True
            i += 2
            continue
        m = re.match(r"r(#*)\"", line[i:])
        if m and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            end = '"' + m.group(1)
            j = line.find(end, i + len(m.group(0)))
            i = len(line) if j < 0 else j + len(end)
            continue
        if c == '"':
            state["string"] = True
            i += 1
            continue
        m = re.match(r"'(\\.[^']*|[^'\\])'", line[i:])
        if m:
            i += len(m.group(0))
            continue
        out.append(c)
        i += 1
    return "".join(out)

# Files that are test modules of their own (`#[cfg(test)] mod name;`).
test_files = set()
for path in pathlib.Path("src").rglob("*.rs"):
    text = path.read_text()
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\(\w+\))?\s+)?mod\s+(\w+)\s*;", text):
        base = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
        test_files.add(base / (m.group(1) + ".rs"))
        test_files.add(base / m.group(1) / "mod.rs")

found = []
for path in sorted(pathlib.Path("src").rglob("*.rs")):
    if path in test_files:
        continue
    lines = path.read_text().splitlines()
    state = {"block": False, "string": False}
    code = [code_only(l, state) for l in lines]
    skip_until = -1
    i = 0
    while i < len(lines):
        if i <= skip_until:
            i += 1
            continue
        # A test module: skipped whole.
        if lines[i].strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(r"\s*(pub(\(\w+\))?\s+)?mod\s+\w+\s*\{", lines[i + 1]):
            depth, j = 0, i + 1
            while j < len(lines):
                depth += code[j].count("{") - code[j].count("}")
                if depth == 0 and "{" in "".join(code[i + 1 : j + 1]):
                    break
                j += 1
            skip_until = j
            i = j + 1
            continue
        m = FN.match(code[i])
        if m:
            depth, j, opened = 0, i, False
            while j < len(lines):
                depth += code[j].count("{") - code[j].count("}")
                opened = opened or "{" in code[j]
                if opened and depth <= 0:
                    break
                if not opened and code[j].rstrip().endswith(";"):
                    break  # a declaration in a trait: no body
                j += 1
            if opened:
                found.append((j - i + 1, f"{path}:{i + 1}", m.group(6)))
        i += 1

found.sort(key=lambda f: (-f[0], f[1]))
if top is not None:
    for n, where, name in found[:top]:
        print(f"{n:4} {where} {name}")
    sys.exit(0)
long = [f for f in found if f[0] > limit]
for n, where, name in long:
    print(f"{n:4} {where} {name}")
print(f"{len(long)} function(s) over {limit} lines outside tests ({len(found)} measured)")
sys.exit(1 if long else 0)
EOF
