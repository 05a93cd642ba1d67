#!/usr/bin/env python3
"""Every command the image's own scripts run is on a Buildroot image of our
defconfigs: a busybox applet that Buildroot's busybox configuration turns on
(ci/image/busybox-applets), a command of a package the defconfigs or
package/mcce/Config.in select (ci/image/package-commands), a shell builtin,
or a function of the script itself.

A script that calls something else works on a PC or in a VM with a fuller
busybox and fails on the box (S05mcce-data once read the root's device with
`stat`, which Buildroot's busybox leaves out). ci/vm-check.sh runs the
scripts on exactly these commands; this check reads every line, including
the branches that a VM run never takes.

The reader knows enough POSIX shell for init scripts: quotes, comments,
here-documents, $(...) and `...` (read as scripts of their own), case
patterns, function definitions, assignments and redirections before a
command; `sh -c`/`su -c` strings, `find -exec`, `xargs`, `exec`, `command`
and start-stop-daemon's --exec/--startas name commands too. A command word
made at run time ("$SFDISK") is not checked.

Usage: ci/check-image-commands.py [SCRIPT...]
  default: buildroot-package/package/mcce/S??* and the crontab's commands.
Prints one line per unknown command (file:line: name) and exits 1 if any
(2 if the reader fails its own test, SELF_TEST below).
"""

import glob
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# busybox ash's builtins (shell/ash.c): the POSIX special builtins and the
# regular ones ash always has; echo, printf, test and sleep are builtins
# there too (ASH_ECHO, ASH_PRINTF, ASH_TEST, ASH_SLEEP, on in Buildroot's
# configuration) and applets as well.
BUILTINS = {
    ".", ":", "[", "[[", "alias", "bg", "break", "cd", "chdir", "command", "continue", "echo",
    "eval", "exec", "exit", "export", "false", "fg", "getopts", "hash", "jobs", "kill", "let",
    "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "sleep", "source",
    "test", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset", "wait",
}
KEYWORDS_START = {"if", "then", "else", "elif", "do", "while", "until", "!", "{"}
KEYWORDS_END = {"fi", "done", "esac", "}"}
OPERATORS = ["&&", "||", ";;", ";", "&", "|", "(", ")", "\n"]
REDIRECT = re.compile(r"^[0-9]*(<<-|<<|>>|>&|<&|>\||<>|>|<)")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class Word:
    def __init__(self, text, line, dynamic):
        self.text, self.line, self.dynamic = text, line, dynamic

    def __repr__(self):
        return f"Word({self.text!r}@{self.line})"


class Reader:
    """Splits a script into words and operators; the scripts inside $(...),
    `...` and here-documents are handed to `nested` with their first line."""

    def __init__(self, src, first_line, nested):
        self.s, self.i, self.line, self.nested = src, 0, first_line, nested
        self.heredocs = []  # (delimiter, expands) waiting for the next newline

    def tokens(self):
        out = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and self.s[self.i + 1:self.i + 2] == "\n":
                self.i += 2
                self.line += 1
            elif c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif c == "\n":
                out.append(("op", "\n", self.line))
                self.i += 1
                self.line += 1
                self.read_heredocs()
            else:
                op = next((o for o in OPERATORS if self.s.startswith(o, self.i)), None)
                if op:
                    out.append(("op", op, self.line))
                    self.i += len(op)
                    continue
                m = REDIRECT.match(self.s[self.i:])
                if m:
                    self.i += m.end()
                    out.append(("redir", m.group(1), self.line))
                    if m.group(1) in ("<<", "<<-"):
                        while self.s[self.i] in " \t":
                            self.i += 1
                        w = self.word()
                        self.heredocs.append((w.text, not re.search(r"['\"\\]", self.raw_word)))
                        out.append(("word", w, self.line))
                    continue
                out.append(("word", self.word(), self.line))
        return out

    def read_heredocs(self):
        for delim, expands in self.heredocs:
            start, line = self.i, self.line
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                text = self.s[self.i:end]
                self.i = end + 1
                self.line += 1
                if text.strip("\t") == delim:
                    break
            if expands:
                body = self.s[start:self.i]
                for m in re.finditer(r"\$\(", body):
                    if not body.startswith("$((", m.start()):
                        inner, _ = matching(body, m.end())
                        self.nested(inner, line + body.count("\n", 0, m.start()))
        self.heredocs = []

    def word(self):
        """One word; its text without quotes, dynamic if it has $ or `."""
        start, text, dynamic = self.i, "", False
        while self.i < len(self.s):
            c = self.s[self.i]
            if c in " \t\n;&|()<>":
                break
            if c == "'":
                end = self.s.index("'", self.i + 1)
                text += self.s[self.i + 1:end]
                self.line += self.s.count("\n", self.i, end)
                self.i = end + 1
            elif c == '"':
                self.i += 1
                while self.s[self.i] != '"':
                    if self.s[self.i] == "\\":
                        text += self.s[self.i + 1]
                        self.i += 2
                    elif self.s[self.i] in "$`":
                        dynamic = True
                        text += self.dollar()
                    else:
                        if self.s[self.i] == "\n":
                            self.line += 1
                        text += self.s[self.i]
                        self.i += 1
                self.i += 1
            elif c == "\\":
                text += self.s[self.i + 1]
                self.i += 2
            elif c in "$`":
                dynamic = True
                text += self.dollar()
            else:
                text += c
                self.i += 1
        self.raw_word = self.s[start:self.i]
        return Word(text, self.line, dynamic)

    def dollar(self):
        """$name, ${...}, $((...)), $(...) or `...` at self.i: its source
        text; a command substitution is read as a script of its own."""
        s, i = self.s, self.i
        if s[i] == "`":
            end = s.index("`", i + 1)
            self.nested(s[i + 1:end], self.line)
            self.i = end + 1
        elif s.startswith("$((", i):
            _, self.i = matching(s, i + 3, arithmetic=True)
        elif s.startswith("$(", i):
            inner, self.i = matching(s, i + 2)
            self.nested(inner, self.line)
        elif s.startswith("${", i):
            self.i = s.index("}", i) + 1
        else:
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|[0-9#?$!@*-])?", s[i:])
            self.i = i + m.end()
        self.line += s.count("\n", i, self.i)
        return s[i:self.i]


def matching(s, i, arithmetic=False):
    """The text up to the ")" that closes a "$(" (or "$((") ending at i, and
    the index after it. Quotes are skipped, case patterns' ")" too."""
    depth, start, cases = 0, i, 0
    while i < len(s):
        c = s[i]
        if c == "'":
            i = s.index("'", i + 1)
        elif c == '"':
            i += 1
            while s[i] != '"':
                i += 2 if s[i] == "\\" else 1
        elif c == "\\":
            i += 1
        elif c == "#" and (i == start or s[i - 1] in " \t\n"):
            i = s.find("\n", i) if "\n" in s[i:] else len(s)
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0 and cases == 0:
                if arithmetic:
                    return s[start:i], i + 2
                return s[start:i], i + 1
            if depth == 0:
                pass  # a case pattern's
            else:
                depth -= 1
        elif re.match(r"\bcase\b", s[i:]) and (i == 0 or not s[i - 1].isalnum()):
            cases += 1
        elif re.match(r"\besac\b", s[i:]) and (i == 0 or not s[i - 1].isalnum()):
            cases -= 1
        i += 1
    raise ValueError("no closing parenthesis")


class Checker:
    def __init__(self, known_paths):
        self.paths = known_paths
        self.names = {os.path.basename(p) for p in known_paths}
        self.problems = []

    def known(self, name):
        if "/" in name:
            return name.lstrip("/") in self.paths
        return name in self.names or name in BUILTINS

    def check_script(self, name, src, first_line=1, functions=None):
        functions = set() if functions is None else functions
        # Functions may be called before their definition in the file.
        functions |= set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)", src, re.M))
        toks = Reader(src, first_line, lambda s, ln: self.check_script(name, s, ln, functions)).tokens()
        self.commands(name, toks, functions)

    def commands(self, name, toks, functions):
        cmd_pos, case_patterns, n, args = True, False, 0, None
        expect_in = None  # "for"/"case": skip words up to "in", then up to ";"/newline
        while n < len(toks):
            kind, val, line = toks[n]
            n += 1
            if kind == "op":
                if val == ")" and case_patterns:
                    case_patterns = False
                    cmd_pos = True
                    continue
                if val == ";;":
                    case_patterns = True
                cmd_pos = val != ")"
                if expect_in == "for-words" and val in (";", "\n"):
                    expect_in = None
                args = None
                continue
            if kind == "redir":
                n += 1  # its target
                continue
            w = val
            if expect_in == "for":
                expect_in = "for-var"
                continue
            if expect_in == "for-var":
                expect_in = "for-words" if w.text == "in" else None
                continue
            if expect_in == "for-words":
                continue
            if expect_in == "case":
                if w.text == "in":
                    expect_in, case_patterns = None, True
                continue
            if case_patterns:
                if w.text == "esac":
                    case_patterns, cmd_pos = False, False
                continue
            if not cmd_pos:
                if args is not None:
                    args.append(w)
                    self.argument(name, args, w)
                continue
            if w.text in KEYWORDS_START and not w.dynamic:
                continue
            if w.text in KEYWORDS_END and not w.dynamic:
                cmd_pos = False
                args = None
                continue
            if w.text == "for":
                expect_in = "for"
                continue
            if w.text == "case":
                expect_in = "case"
                n += 1  # the word cased on
                continue
            if ASSIGNMENT.match(w.text) and not w.text.startswith("="):
                continue
            # A function definition: name ( )
            if n + 1 < len(toks) and toks[n][1] == "(" and toks[n + 1][1] == ")":
                n += 2
                continue
            cmd_pos = False
            args = [w]
            self.command(name, w, functions)

    def command(self, name, w, functions):
        if w.dynamic or w.text in functions:
            return
        if not self.known(w.text):
            self.problems.append(f"{name}:{w.line}: {w.text}")

    def argument(self, name, args, w):
        """Commands named in the arguments of the command args[0]."""
        cmd, prev = os.path.basename(args[0].text), args[-2].text if len(args) > 1 else ""
        if w.dynamic:
            return
        if (cmd == "find" and prev in ("-exec", "-ok")) or (cmd in ("exec", "command") and len(args) == 2):
            self.command(name, w, set())
        elif cmd == "start-stop-daemon" and prev in ("--exec", "-x", "--startas", "-a"):
            self.command(name, w, set())
        elif prev == "-c" and (cmd in ("sh", "ash", "su")
                               or (len(args) > 2 and os.path.basename(args[-3].text) in ("sh", "ash"))):
            # sh -c, su -c, and a find -exec sh -c or xargs sh -c
            self.check_script(name, w.text, w.line)
        elif cmd == "xargs" and not w.text.startswith("-") and all(a.text.startswith("-") for a in args[1:-1]):
            self.command(name, w, set())


# The reader's own test, run first: every "nosuchN" is a command it must
# name, and nothing else (a backslash and t stand for a tab, which the
# <<- here-document strips).
SELF_TEST = r"""
f() { nosuch1 -x; }
x=$(nosuch2 | awk '{print}')
y="$(echo "$(nosuch3)")"
read -r a b <<- EOF2
\t$(nosuch4 a)
\tEOF2
cat <<'Q'
$(notacommand)
Q
case "$1" in
start|stop) nosuch5 ;;
*) z=`nosuch6`
esac
for i in nosuchX nosuchY; do nosuch7 "$i"; done
if ! nosuch8; then :; fi
find / -exec nosuch9 {} \;
su -s /bin/sh mcce -c 'nosuch10; echo'
find / -exec sh -c 'for f; do nosuch19 "$f"; done' sh {} +
A=1 B=2 nosuch11 arg
2>/dev/null nosuch12
/usr/bin/nosuch13
v=$(case x in x) nosuch14 ;; esac)
echo "# not a comment $(nosuch15)" # nosuchcomment
(cd / && nosuch16) || { nosuch17; }
start-stop-daemon -S -x /sbin/nosuch18
"""


def self_test():
    checker = Checker({"usr/bin/awk", "bin/cat", "usr/bin/find", "sbin/start-stop-daemon", "bin/su", "bin/sh"})
    checker.check_script("self-test", SELF_TEST.replace("\\t", "\t"))
    found = sorted(p.split(": ")[-1].split("/")[-1] for p in checker.problems)
    want = sorted(f"nosuch{n}" for n in range(1, 20))
    if found != want:
        print(f"the reader is wrong: it names {found}, not {want}")
        return False
    return True


def load(path):
    with open(path) as f:
        return {line.split()[0] for line in f if line.strip() and not line.startswith("#")}


def main(argv):
    if not self_test():
        return 2
    known = load(os.path.join(TOP, "ci/image/busybox-applets")) | load(os.path.join(TOP, "ci/image/package-commands"))
    checker = Checker(known)
    pkg = os.path.join(TOP, "buildroot-package/package/mcce")
    scripts = argv or sorted(glob.glob(os.path.join(pkg, "S??*")))
    for path in scripts:
        with open(path) as f:
            checker.check_script(os.path.relpath(path, TOP), f.read())
    if not argv:
        # A crontab line: five time fields, then a command line for /bin/sh.
        path = os.path.join(pkg, "mcce.crontab")
        with open(path) as f:
            for number, line in enumerate(f, 1):
                fields = line.split(None, 5)
                if line.strip() and not line.startswith("#") and len(fields) == 6:
                    checker.check_script(os.path.relpath(path, TOP), fields[5], number)
    for p in sorted(checker.problems, key=lambda p: (p.split(":")[0], int(p.split(":")[1]))):
        print(f"{p}: not on a Buildroot image of the defconfigs (ci/image/busybox-applets, "
              "ci/image/package-commands)")
    print(f"{len(scripts)} scripts{'' if argv else ' and the crontab'}: "
          f"{'all commands on the image' if not checker.problems else f'{len(checker.problems)} unknown'}")
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
