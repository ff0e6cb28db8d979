"""File types for -t/-T/--type-list: ripgrep 14's definitions of the common ones.

Copied from `rg --type-list` (ripgrep 14.1): a type is a set of globs on the
base name, written here separated by spaces. Only the common languages and
formats are here, not rg's whole list.
"""

from __future__ import annotations

__all__ = ["TYPES", "globs_of", "type_list"]

TYPES: dict[str, str] = {
    "asm": "*.S *.asm *.s",
    "awk": "*.awk",
    "c": "*.[chH] *.[chH].in *.cats",
    "cmake": "*.cmake CMakeLists.txt",
    "config": "*.cfg *.conf *.config *.ini",
    "cpp": (
        "*.[ChH] *.[ChH].in *.[ch]pp *.[ch]pp.in *.[ch]xx *.[ch]xx.in *.cc *.cc.in *.hh "
        "*.hh.in *.inl"
    ),
    "cs": "*.cs",
    "css": "*.css *.scss",
    "csv": "*.csv",
    "d": "*.d",
    "dart": "*.dart",
    "docker": "*Dockerfile*",
    "elixir": "*.eex *.ex *.exs *.heex *.leex *.livemd",
    "erlang": "*.erl *.hrl",
    "fish": "*.fish",
    "go": "*.go",
    "gradle": "*.gradle *.gradle.kts gradle-wrapper.* gradle.properties gradlew gradlew.bat",
    "graphql": "*.graphql *.graphqls",
    "h": "*.h *.hh *.hpp",
    "haskell": "*.c2hs *.cpphs *.hs *.hsc *.lhs",
    "html": "*.ejs *.htm *.html",
    "java": "*.java *.jsp *.jspx *.properties",
    "js": "*.cjs *.js *.jsx *.mjs *.vue",
    "json": "*.json *.sarif composer.lock",
    "jsonl": "*.jsonl",
    "julia": "*.jl",
    "kotlin": "*.kt *.kts",
    "lua": "*.lua",
    "make": (
        "*.mak *.mk [Gg][Nn][Uu]makefile [Gg][Nn][Uu]makefile.am [Gg][Nn][Uu]makefile.in "
        "[Mm]akefile [Mm]akefile.am [Mm]akefile.in"
    ),
    "markdown": "*.markdown *.md *.mdown *.mdwn *.mdx *.mkd *.mkdn",
    "md": "*.markdown *.md *.mdown *.mdwn *.mdx *.mkd *.mkdn",
    "nim": "*.nim *.nimble *.nimf *.nims",
    "nix": "*.nix",
    "objc": "*.h *.m",
    "ocaml": "*.ml *.mli *.mll *.mly",
    "perl": "*.PL *.perl *.pl *.plh *.plx *.pm *.t",
    "php": "*.php *.php3 *.php4 *.php5 *.php7 *.php8 *.pht *.phtml",
    "protobuf": "*.proto",
    "ps": "*.cdxml *.ps1 *.ps1xml *.psd1 *.psm1",
    "py": "*.py *.pyi",
    "python": "*.py *.pyi",
    "r": "*.R *.Rmd *.Rnw *.r",
    "rst": "*.rst",
    "ruby": "*.gemspec *.rb *.rbw .irbrc Gemfile Rakefile config.ru",
    "rust": "*.rs",
    "scala": "*.sbt *.scala",
    "sh": (
        "*.bash *.bashrc *.csh *.cshrc *.ksh *.kshrc *.sh *.tcsh *.zsh .bash_login .bash_logout "
        ".bash_profile .bashrc .cshrc .kshrc .login .logout .profile .tcshrc .zlogin .zlogout "
        ".zprofile .zshenv .zshrc bash_login bash_logout bash_profile bashrc profile zlogin "
        "zlogout zprofile zshenv zshrc"
    ),
    "sql": "*.psql *.sql",
    "svelte": "*.svelte",
    "swift": "*.swift",
    "tex": "*.bib *.cls *.dtx *.ins *.ltx *.sty *.tex",
    "tf": (
        "*.auto.tfvars *.auto.tfvars.json *.terraform.lock.hcl *.terraformrc *.tf *.tf.json "
        "*.tfrc terraform.rc terraform.tfvars terraform.tfvars.json"
    ),
    "toml": "*.toml Cargo.lock",
    "ts": "*.cts *.mts *.ts *.tsx",
    "txt": "*.txt",
    "typescript": "*.cts *.mts *.ts *.tsx",
    "vim": "*.vim .gvimrc .vimrc _gvimrc _vimrc gvimrc vimrc",
    "vue": "*.vue",
    "xml": "*.dtd *.rng *.sch *.xhtml *.xjb *.xml *.xml.dist *.xsd *.xsl *.xslt",
    "yaml": "*.yaml *.yml",
    "zig": "*.zig",
    "zsh": "*.zsh .zlogin .zlogout .zprofile .zshenv .zshrc zlogin zlogout zprofile zshenv zshrc",
}


def globs_of(names: list[str]) -> list[str]:
    from perflab.errors import UsageError

    globs: list[str] = []
    for name in names:
        if name not in TYPES:
            raise UsageError(f"unknown file type {name!r}", hint="see --type-list")
        globs += TYPES[name].split()
    return globs


def type_list() -> str:
    return "".join(f"{name}: {', '.join(globs.split())}\n" for name, globs in TYPES.items())
