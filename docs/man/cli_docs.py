#!/usr/bin/env python3
"""cli_docs.py: dupla(1) and the bash completion, generated from the
binary's own help.

The one source of the command line's documentation is what `dupla help` and
`dupla CMD --help` print (main.c's command table, each command's struct
cli_sub table and usage text). This script runs the freshly built binary
and turns that text into a man page and a bash completion script, so that
neither can drift from --help. Run by the build (docs/man/meson.build):

    cli_docs.py --binary build/dupla --man dupla.1 --completion dupla.bash

A command whose help lists subcommands and says
"'dupla CMD SUBCOMMAND --help' explains one" (pki) gets one section per
subcommand too.
"""
import argparse
import re
import subprocess
import sys

OPTION_RE = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?:[ =]([A-Z][A-Z0-9_|.]*))?")
FILE_ARGS = ("FILE", "DIR", "PATH", "KEY", "CERT")


def run_help(binary, *args):
    """The help text of `binary args... --help` (it must exit 0)."""
    p = subprocess.run([binary, *args, "--help"], capture_output=True, text=True,
                       env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin",
                            "ASAN_OPTIONS": "detect_leaks=0"})
    if p.returncode != 0:
        sys.exit("cli_docs: '%s --help' exited %d: %s" % (" ".join([binary, *args]),
                                                           p.returncode, p.stderr))
    return p.stdout


def block(text, title):
    """The lines of the block that starts with the line `title` up to the
    next blank line (without the title)."""
    out, inside = [], False
    for line in text.splitlines():
        if inside:
            if not line.strip():
                break
            out.append(line)
        elif line.strip() == title:
            inside = True
    return out


def commands(binary):
    """[(name, summary)] from `dupla help`."""
    result = []
    for line in block(run_help(binary), "commands:"):
        m = re.match(r"^  (\S+)\s+(.*)$", line)
        if m:
            result.append((m.group(1), m.group(2)))
    return result


def subcommands(text):
    """The subcommand names of a command's help (its "subcommands:" list)."""
    names = []
    for line in block(text, "subcommands:"):
        m = re.match(r"^  ([a-z][a-z0-9-]*)", line)
        if m:
            names.append(m.group(1))
    return names


def options(text):
    """{option: argument name or ''} of every option a help text mentions."""
    found = {}
    for m in OPTION_RE.finditer(text):
        opt, arg = m.group(1), m.group(2) or ""
        if opt not in found or (arg and not found[opt]):
            found[opt] = arg
    found.setdefault("--help", "")
    return found


def gather(binary):
    """Every command: name, summary, help text, subcommands, options, and
    [(sub, help text)] for the commands that explain each subcommand."""
    cmds = []
    for name, summary in commands(binary):
        text = run_help(binary, name)
        subs = subcommands(text)
        per_sub = []
        if "SUBCOMMAND --help' explains one" in text:
            per_sub = [(s, run_help(binary, name, s)) for s in subs]
        opts = options(text)
        sub_opts = {s: options(t) for s, t in per_sub}
        cmds.append({"name": name, "summary": summary, "text": text, "subs": subs,
                     "per_sub": per_sub, "opts": opts, "sub_opts": sub_opts})
    return cmds


# ---- the man page ----

def roff_text(s):
    """One line of running text, escaped for roff."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    # ASCII only: plain groff (without preconv) reads no UTF-8.
    s = "".join(ch if ord(ch) < 128 else "\\[u%04X]" % ord(ch) for ch in s)
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def roff_example(text):
    """A help text as a verbatim block."""
    lines = [".PP", ".EX"]
    for line in text.rstrip("\n").splitlines():
        lines.append(roff_text(line) if line.strip() else "")
    lines.append(".EE")
    # A blank source line is a paragraph break to some roff readers: .sp.
    return "\n".join(l if l else ".sp" for l in lines)


def man_page(version, cmds):
    out = []
    out.append('.TH DUPLA 1 "" "dupla %s" "dupla manual"' % version)
    out.append(".SH NAME")
    out.append("dupla \\- the tax data exchange platform")
    out.append(".SH SYNOPSIS")
    out.append(".B dupla")
    out.append(".I COMMAND")
    out.append(".RI [ OPTIONS ]")
    out.append(".br")
    out.append(".B dupla")
    out.append(".I COMMAND")
    out.append(".B \\-\\-help")
    out.append(".SH DESCRIPTION")
    out.append("dupla is a national tax administration's data exchange platform: it shares")
    out.append("what the tax administration knows about citizens' and companies' finances")
    out.append("with the authorities and companies that have a legal right to it, under")
    out.append("approved agreements, and documents every disclosure in a tamper\\-evident log.")
    out.append(".PP")
    out.append(".B dupla serve")
    out.append("runs the platform from a configuration file (see")
    out.append(".BR dupla.json (5));")
    out.append("the other commands administer it.")
    out.append("Every command answers")
    out.append(".BR \\-\\-help ,")
    out.append("which prints the text of its section below.")
    out.append(".SH COMMANDS")
    for c in cmds:
        out.append(".TP")
        out.append(".B %s" % roff_text(c["name"]))
        out.append(roff_text(c["summary"]))
    for c in cmds:
        out.append('.SS "dupla %s"' % roff_text(c["name"]))
        out.append(roff_text(c["summary"][:1].upper() + c["summary"][1:]) + ".")
        out.append(roff_example(c["text"]))
        for sub, text in c["per_sub"]:
            out.append('.SS "dupla %s %s"' % (roff_text(c["name"]), roff_text(sub)))
            out.append(roff_example(text))
    out.append(".SH EXIT STATUS")
    out.append(".TP")
    out.append(".B 0")
    out.append("success")
    out.append(".TP")
    out.append(".B 1")
    out.append("failure (the message names what failed, and the reason in brackets when")
    out.append("a script must tell refusals apart)")
    out.append(".TP")
    out.append(".B 2")
    out.append("a usage error: an unknown command, subcommand or option, or invalid input")
    out.append(".SH FILES")
    out.append(".TP")
    out.append(".I /etc/dupla/dupla.json")
    out.append("the configuration of the installed package, see")
    out.append(".BR dupla.json (5)")
    out.append(".TP")
    out.append(".I /var/lib/dupla")
    out.append("the store, token signing keys and other state of the installed service")
    out.append(".TP")
    out.append(".I /etc/dupla/tls")
    out.append("the server certificate and key, and the CA that client certificates")
    out.append("must chain to")
    out.append(".SH SIGNALS")
    out.append("See")
    out.append(".B dupla serve")
    out.append("above: SIGHUP reloads, SIGTERM and SIGINT stop after draining.")
    out.append(".SH SEE ALSO")
    out.append(".BR dupla.json (5),")
    out.append(".BR systemd.service (5)")
    return "\n".join(out) + "\n"


# ---- the bash completion ----

def shell_words(words):
    return " ".join(sorted(set(words)))


def file_opts(opts):
    return sorted(o for o, a in opts.items() if any(k in a for k in FILE_ARGS))


def valued_opts(opts):
    return sorted(o for o, a in opts.items() if a)


def completion(cmds):
    out = []
    out.append("# bash completion for dupla(1). Generated by docs/man/cli_docs.py from the")
    out.append("# binary's --help: do not edit.")
    out.append("_dupla()")
    out.append("{")
    out.append('    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"')
    out.append('    local cmd="${COMP_WORDS[1]}" sub="" subs="" opts="" files="" valued=""')
    out.append("    COMPREPLY=()")
    out.append("    if [ \"$COMP_CWORD\" -eq 1 ]; then")
    out.append('        COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))'
               % shell_words(c["name"] for c in cmds))
    out.append("        return 0")
    out.append("    fi")
    out.append('    [ "$COMP_CWORD" -gt 2 ] && sub="${COMP_WORDS[2]}"')
    out.append('    case "$cmd" in')
    for c in cmds:
        out.append("    %s)" % c["name"])
        if c["subs"]:
            out.append('        subs="%s"' % shell_words(c["subs"]))
        out.append('        opts="%s"' % shell_words(c["opts"]))
        out.append('        files="%s"' % shell_words(file_opts(c["opts"])))
        out.append('        valued="%s"' % shell_words(valued_opts(c["opts"])))
        if c["sub_opts"]:
            out.append('        case "$sub" in')
            for s, so in sorted(c["sub_opts"].items()):
                out.append("        %s)" % s)
                out.append('            opts="%s"' % shell_words(so))
                out.append('            files="%s"' % shell_words(file_opts(so)))
                out.append('            valued="%s"' % shell_words(valued_opts(so)))
                out.append("            ;;")
            out.append("        esac")
        out.append("        ;;")
    out.append("    *) return 0 ;;")
    out.append("    esac")
    out.append('    case " $files " in')
    out.append('    *" $prev "*)')
    out.append('        COMPREPLY=($(compgen -f -- "$cur"))')
    out.append("        return 0")
    out.append("        ;;")
    out.append("    esac")
    out.append('    case " $valued " in')
    out.append('    *" $prev "*) return 0 ;;')
    out.append("    esac")
    out.append('    if [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ] && [[ "$cur" != -* ]]; then')
    out.append('        COMPREPLY=($(compgen -W "$subs" -- "$cur"))')
    out.append("        return 0")
    out.append("    fi")
    out.append('    if [[ "$cur" == -* ]]; then')
    out.append('        COMPREPLY=($(compgen -W "$opts" -- "$cur"))')
    out.append("        return 0")
    out.append("    fi")
    out.append('    COMPREPLY=($(compgen -f -- "$cur"))')
    out.append("}")
    out.append("complete -o filenames -F _dupla dupla")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--man")
    ap.add_argument("--completion")
    a = ap.parse_args()
    version = subprocess.run([a.binary, "version"], capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    cmds = gather(a.binary)
    if not cmds:
        sys.exit("cli_docs: '%s help' lists no commands" % a.binary)
    if a.man:
        with open(a.man, "w", encoding="utf-8") as f:
            f.write(man_page(version, cmds))
    if a.completion:
        with open(a.completion, "w", encoding="utf-8") as f:
            f.write(completion(cmds))


if __name__ == "__main__":
    main()
